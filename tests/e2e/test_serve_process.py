"""``rag serve`` as a real process: JSON log lines, one access line per request (ours, not
uvicorn's), and the startup warnings an operator needs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from devtools.milvus_server import free_port

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_serve_logs_one_json_access_line_per_request(tmp_path: Path) -> None:
    port = free_port()
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "RAG_DATA_DIR": str(tmp_path),
        "RAG_EMBEDDING__MODEL": "bundled:all-minilm-l6-v2",
        "RAG_LOG__LEVEL": "info",
        "RAG_LOG__JSON_LINES": "true",
    }
    rag = str(Path(sys.executable).with_name("rag"))
    process = subprocess.Popen(
        [rag, "serve", "--port", str(port)], env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or process.poll() is not None:
                raise AssertionError("rag serve did not start")
            time.sleep(0.2)
        assert httpx.get(f"{base}/kbs", headers={"X-Request-ID": "serve-1"}, timeout=10).status_code == 200
        missing = httpx.get(f"{base}/kbs/nothing", headers={"X-Request-ID": "serve-2"}, timeout=10)
        assert missing.status_code == 404
    finally:
        process.terminate()
        _out, stderr = process.communicate(timeout=30)
    records = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
    assert records and all(line.startswith("{") for line in stderr.splitlines() if line.strip()), stderr[-2000:]
    access = [r for r in records if r["logger"] in ("rag.access", "uvicorn.access")]
    assert [(r["logger"], r["route"], r["status"], r["request_id"]) for r in access] == [
        ("rag.access", "/kbs", 200, "serve-1"),
        ("rag.access", "/kbs/{kb}", 404, "serve-2"),
    ]
    messages = " ".join(r["msg"] for r in records)
    assert "no language model configured" in messages and "loopback callers only" in messages
