"""A fake OpenAI-compatible chat server that speaks real HTTP/1.1 + SSE on 127.0.0.1.

It runs a raw asyncio server in its own thread, so sync tests, async tests and the official
``openai`` SDK can all talk to it, and every failure a real endpoint shows can be scripted
byte for byte: status codes with ``Retry-After``, stalls, connections cut mid-chunk.

    with FakeLLMServer() as server:
        server.push(Script(status=429, retry_after="1"), Script(shape="think_tags"))
        ...  # point a client at server.base_url
        assert server.requests[0].body["stream"] is True

Requests take scripts from the queue in order; once it is empty, ``server.default`` answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

Shape = Literal["reasoning_content", "reasoning", "think_tags", "closing_tag", "none"]


@dataclass
class Script:
    """How to answer one request. Counts of chunks refer to chunks that carry text."""

    shape: Shape = "reasoning_content"
    reasoning: str = "The user greets me. A short, friendly answer fits."
    answer: str = "Hello! How can I help?"
    chunk_size: int = 8  # characters per delta; 1 sends one character per chunk
    usage: bool = True  # send the usage chunk when the request asks for include_usage
    prompt_tokens: int = 17
    status: int = 200
    error_message: str = "scripted failure"
    retry_after: str | None = None  # Retry-After header value (seconds or an HTTP-date)
    headers_delay: float = 0.0  # seconds before the status line is sent
    stall_after: int | None = None  # after this many chunks, pause for stall_seconds
    stall_seconds: float = 0.0
    chunk_delay: float = 0.0  # pause between chunks
    drop_after: int | None = None  # after this many chunks, cut the connection (no terminating chunk)
    error_event_after: int | None = None  # after this many chunks, send {"error": ...} and end the stream
    garbage_after: int | None = None  # after this many chunks, send an event whose data is not JSON
    send_done: bool = True  # end with "data: [DONE]"
    model: str | None = None  # model name to report; the requested one by default

    def content_text(self) -> str:
        """What travels in ``content`` for this shape."""
        if self.shape == "think_tags":
            return f"<think>\n{self.reasoning}\n</think>\n\n{self.answer}"
        if self.shape == "closing_tag":
            return f"{self.reasoning}\n</think>\n\n{self.answer}"
        return self.answer

    def deltas(self) -> list[dict[str, Any]]:
        """The ``delta`` objects carrying text, in order."""
        size = max(self.chunk_size, 1)

        def pieces(text: str) -> list[str]:
            return [text[i : i + size] for i in range(0, len(text), size)]

        if self.shape == "reasoning_content":
            return [{"content": None, "reasoning_content": p} for p in pieces(self.reasoning)] + [
                {"content": p, "reasoning_content": None} for p in pieces(self.answer)
            ]
        if self.shape == "reasoning":
            return [{"reasoning": p} for p in pieces(self.reasoning)] + [{"content": p} for p in pieces(self.answer)]
        return [{"content": p} for p in pieces(self.content_text())]


@dataclass
class RecordedRequest:
    """What the server received, and how the exchange ended."""

    method: str
    path: str
    headers: dict[str, str]  # lower-case names
    body: Any
    chunks_sent: int = 0
    completed: bool = False  # the whole response was written
    disconnected: bool = False  # the client went away before the response was complete
    dropped: bool = False  # the server cut the connection as scripted


class FakeLLMServer:
    """Context manager running the fake on a free port; see the module docstring."""

    def __init__(self, default: Script | None = None, *, port: int = 0) -> None:
        self.default = default or Script()
        self.port = port
        self._queue: deque[Script] = deque()
        self._requests: list[RecordedRequest] = []
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.connections = 0  # accepted so far: a client that reuses its connections opens few

    # -- test-facing API -------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def push(self, *scripts: Script) -> None:
        """Queue scripts for the next requests, in order."""
        with self._lock:
            self._queue.extend(scripts)

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    def wait_until(self, condition: Callable[[], bool], seconds: float = 5.0) -> bool:
        """Block until ``condition()`` holds (checked every 10 ms); False on timeout."""
        deadline = time.monotonic() + seconds
        while not condition():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.01)
        return True

    async def await_until(self, condition: Callable[[], bool], seconds: float = 5.0) -> bool:
        """``wait_until`` for async tests: yields to the loop instead of blocking it."""
        deadline = time.monotonic() + seconds
        while not condition():
            if time.monotonic() > deadline:
                return False
            await asyncio.sleep(0.01)
        return True

    def start(self) -> FakeLLMServer:
        ready = threading.Event()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, args=(ready,), name="fake-llm-server", daemon=True)
        self._thread.start()
        if not ready.wait(5):
            raise RuntimeError("fake LLM server did not start")
        return self

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(5)
            self._loop = self._thread = None

    def __enter__(self) -> FakeLLMServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- server internals ------------------------------------------------------------------

    def _run(self, ready: threading.Event) -> None:
        assert self._loop is not None
        loop = self._loop
        asyncio.set_event_loop(loop)
        self._server = loop.run_until_complete(asyncio.start_server(self._connection, "127.0.0.1", self.port))
        self.port = self._server.sockets[0].getsockname()[1]
        ready.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(self._shutdown())
            loop.close()

    async def _shutdown(self) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)  # type: ignore[arg-type]
        with self._lock:
            self.connections += 1
        try:
            while await self._one_request(reader, writer):
                pass
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self._tasks.discard(task)  # type: ignore[arg-type]
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _one_request(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        """Serve one request; False when the connection should close."""
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            return False
        request_line, *header_lines = head.decode("latin-1").split("\r\n")
        method, path, _ = request_line.split(" ", 2)
        headers = {}
        for line in header_lines:
            if ":" in line:
                name, value = line.split(":", 1)
                headers[name.strip().lower()] = value.strip()
        raw = await reader.readexactly(int(headers.get("content-length", "0")))
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode("utf-8", "replace")
        record = RecordedRequest(method=method, path=path, headers=headers, body=body)
        with self._lock:
            self._requests.append(record)
        route = path.split("?", 1)[0].rstrip("/")
        if method == "POST" and route.endswith("/chat/completions"):
            return await self._chat(record, reader, writer)
        if method == "GET" and route.endswith("/models"):
            model = {"id": self.default.model or "deepseek-r1", "object": "model", "owned_by": "fake"}
            await self._send_json(writer, 200, {"object": "list", "data": [model]})
        else:
            await self._send_json(writer, 404, {"error": {"message": f"no route {path}", "type": "not_found"}})
        record.completed = True
        return True

    def _next_script(self) -> Script:
        with self._lock:
            return self._queue.popleft() if self._queue else self.default

    async def _chat(self, record: RecordedRequest, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        script = self._next_script()
        request = record.body if isinstance(record.body, dict) else {}
        model = script.model or str(request.get("model", "deepseek-r1"))
        if script.headers_delay and not await self._pause(script.headers_delay, reader, writer, record):
            return False
        if script.status >= 400:
            error = {"message": script.error_message, "type": "scripted_error", "code": str(script.status)}
            extra = {"Retry-After": script.retry_after} if script.retry_after is not None else {}
            await self._send_json(writer, script.status, {"error": error}, extra)
            record.completed = True
            return True
        if not request.get("stream"):
            await self._send_json(writer, 200, _completion(script, model))
            record.completed = True
            return True
        return await self._stream(script, model, request, record, reader, writer)

    async def _stream(
        self,
        script: Script,
        model: str,
        request: dict[str, Any],
        record: RecordedRequest,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> bool:
        writer.write(
            b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream; charset=utf-8\r\n"
            b"cache-control: no-cache\r\ntransfer-encoding: chunked\r\n\r\n"
        )
        base = {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": int(time.time()), "model": model}

        def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
            choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
            return {**base, "choices": [choice]}

        if not await self._event(writer, record, chunk({"role": "assistant", "content": ""})):
            return False
        deltas = script.deltas()
        for sent, delta in enumerate(deltas):
            if sent == script.drop_after:
                record.dropped = True
                writer.transport.abort()
                return False
            if sent == script.garbage_after:
                if not await self._write(writer, record, b'data: {"choices": [{"delta": {"content": "x"\n\n'):
                    return False
            if sent == script.error_event_after:
                await self._event(writer, record, {"error": {"message": script.error_message, "code": "500"}})
                return await self._end(writer, record)
            if sent == script.stall_after and not await self._pause(script.stall_seconds, reader, writer, record):
                return False
            if script.chunk_delay and not await self._pause(script.chunk_delay, reader, writer, record):
                return False
            if not await self._event(writer, record, chunk(delta)):
                return False
            record.chunks_sent += 1
        if not await self._event(writer, record, chunk({}, "stop")):
            return False
        options = request.get("stream_options") or {}
        if script.usage and options.get("include_usage"):
            reasoning_chunks = sum(1 for d in deltas if d.get("reasoning_content") or d.get("reasoning"))
            usage = _usage(script, len(deltas), reasoning_chunks)
            if not await self._event(writer, record, {**base, "choices": [], "usage": usage}):
                return False
        if script.send_done and not await self._write(writer, record, b"data: [DONE]\n\n"):
            return False
        return await self._end(writer, record)

    async def _end(self, writer: asyncio.StreamWriter, record: RecordedRequest) -> bool:
        if not await self._write(writer, record, b"", final=True):
            return False
        record.completed = True
        return True

    async def _event(self, writer: asyncio.StreamWriter, record: RecordedRequest, payload: dict[str, Any]) -> bool:
        return await self._write(writer, record, f"data: {json.dumps(payload, ensure_ascii=False)}\n\n".encode())

    async def _write(
        self, writer: asyncio.StreamWriter, record: RecordedRequest, data: bytes, *, final: bool = False
    ) -> bool:
        """Write one HTTP chunk; False (and the request marked disconnected) if the client is gone."""
        if writer.is_closing():
            record.disconnected = True
            return False
        try:
            if data:
                writer.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            if final:
                writer.write(b"0\r\n\r\n")
            await writer.drain()
        except ConnectionError:
            record.disconnected = True
            return False
        return True

    async def _pause(
        self, seconds: float, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, record: RecordedRequest
    ) -> bool:
        """Sleep, noticing within 10 ms if the client hangs up meanwhile."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if reader.at_eof() or reader.exception() is not None or writer.is_closing():
                record.disconnected = True
                return False
            await asyncio.sleep(min(0.01, max(deadline - time.monotonic(), 0)))
        return True

    async def _send_json(
        self, writer: asyncio.StreamWriter, status: int, payload: Any, extra: dict[str, str] | None = None
    ) -> None:
        body = json.dumps(payload, ensure_ascii=False).encode()
        lines = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Status')}", "content-type: application/json"]
        lines += [f"content-length: {len(body)}", *(f"{k}: {v}" for k, v in (extra or {}).items())]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        await writer.drain()


_REASONS = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    404: "Not Found",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
}


def _usage(script: Script, completion: int, reasoning: int) -> dict[str, Any]:
    return {
        "prompt_tokens": script.prompt_tokens,
        "completion_tokens": completion,
        "total_tokens": script.prompt_tokens + completion,
        "completion_tokens_details": {"reasoning_tokens": reasoning},
    }


def _completion(script: Script, model: str) -> dict[str, Any]:
    """The non-streaming ``chat.completion`` object for ``stream: false``."""
    message: dict[str, Any] = {"role": "assistant", "content": script.content_text()}
    if script.shape == "reasoning_content":
        message["reasoning_content"] = script.reasoning
    elif script.shape == "reasoning":
        message["reasoning"] = script.reasoning
    deltas = script.deltas()
    reasoning_chunks = sum(1 for d in deltas if d.get("reasoning_content") or d.get("reasoning"))
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": "stop"}],
        "usage": _usage(script, len(deltas), reasoning_chunks),
    }
