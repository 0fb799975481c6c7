"""``search-proxy serve`` as a real process: one access line per request, never the query."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time

import httpx
import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]

QUESTION = "confidential merger question 4711"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_serve_writes_one_access_line_without_the_query() -> None:
    port = _free_port()
    env = {
        **os.environ,
        "SEARCH_PROXY_SERVER__LOG_JSON": "true",
        "SEARCH_PROXY_SERVER__LOG_LEVEL": "info",
        "SEARCH_PROXY_PROVIDERS__ORDER": "searxng",  # nothing configured: /search answers 503
    }
    command = [sys.executable, "-m", "search_proxy.cli", "serve", "--host", "127.0.0.1", "--port", str(port)]
    process = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise AssertionError("search-proxy serve did not start") from None
                time.sleep(0.1)
        reply = httpx.get(f"http://127.0.0.1:{port}/search", params={"q": QUESTION}, timeout=5)
        assert reply.status_code == 503
    finally:
        process.terminate()
        _out, stderr = process.communicate(timeout=15)
    lines = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
    access = [line for line in lines if line["logger"] in ("search_proxy.access", "uvicorn.access")]
    assert [(line["logger"], line.get("route"), line.get("status")) for line in access] == [
        ("search_proxy.access", "/search", 503)
    ]
    assert QUESTION not in stderr and "merger" not in stderr
