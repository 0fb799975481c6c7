"""A real uvicorn server on 127.0.0.1 in a thread, plain or TLS, for any ASGI app under test."""

from __future__ import annotations

import socket
import threading
import time
from types import TracebackType
from typing import Any

import uvicorn


class ServerThread:
    """Runs an ASGI app under uvicorn on a random free port until the ``with`` block ends."""

    def __init__(
        self,
        app: Any,
        *,
        certfile: str | None = None,
        keyfile: str | None = None,
        host_name: str = "127.0.0.1",
    ) -> None:
        self._app = app
        self._certfile = certfile
        self._keyfile = keyfile
        self._host_name = host_name
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    @property
    def base_url(self) -> str:
        scheme = "https" if self._certfile else "http"
        return f"{scheme}://{self._host_name}:{self.port}"

    def __enter__(self) -> ServerThread:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            self._app,
            log_level="warning",
            ssl_certfile=self._certfile,
            ssl_keyfile=self._keyfile,
            timeout_graceful_shutdown=1,
            lifespan="on",
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [sock]}, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("test server did not start")
            time.sleep(0.01)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        assert self._server is not None and self._thread is not None
        self._server.should_exit = True
        self._thread.join(timeout=10)
