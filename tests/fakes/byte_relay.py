"""A TCP relay on 127.0.0.1 that stands for a bad network between a browser and a server.

Once a response on a connection is an event stream, the relay forwards the rest of it one byte
per write, pausing inside multi-byte UTF-8 characters so the reader gets them split across
reads; it can also cut a stream once N events of a kind went through, like a network that drops
mid-answer.
"""

from __future__ import annotations

import asyncio
import re
import socket
import threading
from dataclasses import dataclass, field

EVENT_STREAM = re.compile(rb"\r\ncontent-type:\s*text/event-stream", re.IGNORECASE)  # a header line, not a body


@dataclass
class RelayStats:
    streams: int = 0  # event-stream responses seen
    split_characters: int = 0  # multi-byte characters sent across more than one write
    cut: int = 0  # streams cut by the relay


@dataclass
class ByteRelay:
    """Forwards 127.0.0.1:<port> to ``target_port``; after ``cut_after`` lines ``cut_on`` of a
    stream, drops the connection."""

    target_port: int
    trickle: bool = True
    cut_on: bytes = b"event: answer"
    cut_after: int | None = None
    pause_s: float = 0.002
    stats: RelayStats = field(default_factory=RelayStats)
    port: int = 0

    def __post_init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._server: asyncio.Server | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> ByteRelay:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("relay did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()

    async def _shutdown(self) -> None:
        if self._server is not None:
            self._server.close()
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._server = self._loop.run_until_complete(asyncio.start_server(self._connection, "127.0.0.1", 0))
        self.port = self._server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()

    async def _connection(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        try:
            server_r, server_w = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            client_w.close()
            return
        for writer in (client_w, server_w):
            sock = writer.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        upstream = asyncio.ensure_future(self._pipe(client_r, server_w))
        try:
            await self._downstream(server_r, client_w)
        finally:
            upstream.cancel()
            for writer in (client_w, server_w):
                writer.close()

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()

    async def _downstream(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        streaming = False
        head = b""
        seen = 0  # lines ``cut_on`` of the event stream forwarded so far
        tail = b""
        while data := await reader.read(65536):
            if not streaming:
                head += data
                if EVENT_STREAM.search(head):
                    streaming = True
                    self.stats.streams += 1
                    seen, tail = 0, b""
                else:
                    head = head[-64:]
                    writer.write(data)
                    await writer.drain()
                    continue
            await self._send(writer, data)
            window = tail + data
            seen += window.count(self.cut_on) - tail.count(self.cut_on)
            tail = window[-(len(self.cut_on) - 1) :]  # too short to hold a whole one again
            if self.cut_after is not None and seen >= self.cut_after:
                self.stats.cut += 1
                writer.transport.abort()  # a reset, not a clean end: the network went away
                return

    async def _send(self, writer: asyncio.StreamWriter, data: bytes) -> None:
        if not self.trickle:
            writer.write(data)
            await writer.drain()
            return
        for byte in data:
            writer.write(bytes((byte,)))
            await writer.drain()
            if byte & 0xC0 == 0xC0:  # a lead byte: its continuation bytes follow after a pause
                self.stats.split_characters += 1
                await asyncio.sleep(self.pause_s)
