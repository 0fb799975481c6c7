"""A vector-store server that crashes or hangs under load: while it is out the API answers 503
with a clear message (never a 500, never an endless wait) and /readyz says so; once it is back the
same API process answers again, with no restart. Against a Chroma server and a Milvus server.

A Milvus 2.3 standalone server restarted after SIGKILL takes from half a minute to several
minutes to serve again (its components wait out the dead server's etcd sessions), so for Milvus
the come-back is pinned with a hang (SIGSTOP, then SIGCONT) and the crash with its 503 alone.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from ingest.embedders.factory import EmbedderChoice
from rag.api.app import create_app
from rag.components import build_components
from rag.settings import RagSettings
from tests.fakes.llm_server import FakeLLMServer, Script
from tests.fakes.servers import ServerThread
from tests.fakes.store_servers import ChromaServer, MilvusServer, StoreServer

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
MIXED = ROOT / "tests" / "fixtures" / "mixed_batch"
QUESTION = {"question": "What circuit does the charging dock need?", "kb": "docs"}
STORE_TIMEOUT_S = 5.0


@dataclass
class Stack:
    backend: str
    server: StoreServer
    base: str


@pytest.fixture(params=["chroma", "milvus"])
def stack(
    request: pytest.FixtureRequest, tmp_path: Path, bundled_embedder: Any, caplog: pytest.LogCaptureFixture
) -> Iterator[Stack]:
    backend = str(request.param)
    server: StoreServer = ChromaServer(tmp_path / backend) if backend == "chroma" else MilvusServer(tmp_path / backend)
    with server, FakeLLMServer(Script(reasoning="Checklist.", answer="A 16 A circuit [citation:1].")) as llm:
        settings = RagSettings(
            data_dir=tmp_path / "data",
            store={"backend": backend, "uri": server.uri, "timeout_s": STORE_TIMEOUT_S},
            llm={"profiles": ["fake"], "overrides": {"fake": {"base_url": llm.base_url, "model": "r1"}}},
            rate_limit={"enabled": False},
        )
        components = build_components(settings, embedder_choice=EmbedderChoice(bundled_embedder, "test"))
        with components.jobs.open("docs", workers=0) as job:
            assert len(job.run([MIXED], delete_missing=False).indexed) == 2
        with ServerThread(create_app(settings, components)) as api:
            assert httpx.post(f"{api.base_url}/ask", json=QUESTION, timeout=60).status_code == 200
            yield Stack(backend, server, api.base_url)
    vendor = [r for r in caplog.records if r.name.startswith(("pymilvus", "chromadb"))]
    assert len(vendor) <= 20, f"the store client flooded the log while the server was out: {len(vendor)} lines"


class Load:
    """Questions sent back to back from a thread while the store fails; statuses and timings kept."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.statuses: Counter[int] = Counter()
        self.errors: list[str] = []
        self.slowest = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with httpx.Client(timeout=120) as client:
            while not self._stop.is_set():
                began = time.monotonic()
                try:
                    response = client.post(f"{self.base_url}/ask", json=QUESTION)
                except httpx.HTTPError as exc:
                    self.errors.append(repr(exc))
                    continue
                self.slowest = max(self.slowest, time.monotonic() - began)
                self.statuses[response.status_code] += 1

    def __enter__(self) -> Load:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=120)


def assert_out(stack: Stack, load: Load) -> None:
    """What a client sees while the store is out."""
    down = httpx.post(f"{stack.base}/ask", json=QUESTION, timeout=120)
    assert down.status_code == 503, down.text
    error = down.json()["error"]
    assert error["code"] in ("vector_store_unavailable", "retrieval_failed"), error
    assert error["type"] == "server_error" and stack.backend in error["message"] and "Traceback" not in down.text
    ready = httpx.get(f"{stack.base}/readyz", timeout=120)
    assert ready.status_code == 503 and ready.json()["checks"]["store"]["ok"] is False
    assert httpx.get(f"{stack.base}/healthz", timeout=30).status_code == 200
    assert load.errors == [], load.errors
    assert set(load.statuses) <= {200, 503}, load.statuses
    assert load.statuses[503] >= 1, load.statuses


def assert_back(stack: Stack, within_s: float) -> None:
    deadline = time.monotonic() + within_s
    back = httpx.post(f"{stack.base}/ask", json=QUESTION, timeout=120)
    while back.status_code != 200 and time.monotonic() < deadline:
        assert back.status_code == 503, back.text
        time.sleep(0.5)
        back = httpx.post(f"{stack.base}/ask", json=QUESTION, timeout=120)
    assert back.status_code == 200, f"the API did not recover without a restart: {back.text}"
    assert back.json()["sources"][0]["uri"].endswith("dock_checklist.md")
    assert httpx.get(f"{stack.base}/readyz", timeout=60).status_code == 200


def test_a_hung_then_crashed_store_is_a_bounded_503_and_the_api_recovers(stack: Stack) -> None:
    # a hang: requests wait at most the store's timeout (a few times over for their calls), not forever
    with Load(stack.base) as load:
        time.sleep(1.0)
        stack.server.freeze()
        time.sleep(STORE_TIMEOUT_S + 1)
        assert_out(stack, load)
        stack.server.thaw()
    assert load.slowest < 6 * STORE_TIMEOUT_S, f"a request waited {load.slowest:.1f} s on the hung store"
    assert_back(stack, within_s=30)

    # a crash: refused at once
    with Load(stack.base) as load:
        time.sleep(1.0)
        stack.server.kill()
        time.sleep(2.0)
        assert_out(stack, load)
    assert load.slowest < 6 * STORE_TIMEOUT_S, f"a request waited {load.slowest:.1f} s on the dead store"
    if stack.backend == "chroma":
        stack.server.start()  # same port, same data
        assert_back(stack, within_s=30)
