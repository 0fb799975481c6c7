"""/ask served by a real uvicorn, answering from a real Chroma with a fake R1 endpoint on 127.0.0.1."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from httpx_sse import connect_sse

from ingest.embedders.factory import EmbedderChoice
from rag.api.app import create_app
from rag.components import build_components, build_indexing
from rag.llm.settings import LLMSettings
from rag.settings import RagSettings
from tests.fakes.llm_server import FakeLLMServer, Script
from tests.fakes.servers import ServerThread

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]
MIXED = ROOT / "tests" / "fixtures" / "mixed_batch"
QUESTION = "What circuit does the charging dock need?"


@pytest.fixture(scope="module")
def llm() -> Iterator[FakeLLMServer]:
    with FakeLLMServer() as server:
        yield server


@pytest.fixture(autouse=True)
def _fresh_llm(llm: FakeLLMServer) -> None:
    llm.default = Script(
        reasoning="The dock checklist mentions the circuit.",
        answer="The dock needs a dedicated 16 A circuit [citation:1].",
    )
    while True:  # drop scripts a failed test left queued
        with llm._lock:  # noqa: SLF001 - test helper state
            if not llm._queue:  # noqa: SLF001
                break
            llm._queue.clear()  # noqa: SLF001


def _settings(tmp: Path, llm: FakeLLMServer | None) -> RagSettings:
    overrides: dict[str, Any] = {}
    if llm is not None:
        overrides["llm"] = LLMSettings(
            profiles=["fake"],
            overrides={"fake": {"base_url": llm.base_url, "model": "fake-r1"}},
            max_retries=1,
            backoff_base=0.01,
            backoff_max=0.05,
            stall_timeout=2,
            circuit_failures=0,  # one app serves the module: scripted failures must not open it for the next test
        )
    return RagSettings(data_dir=tmp, **overrides)


@pytest.fixture(scope="module")
def kb_dir(tmp_path_factory: pytest.TempPathFactory, bundled_embedder: Any) -> Path:
    data_dir = tmp_path_factory.mktemp("api-data")
    indexing = build_indexing(_settings(data_dir, None), embedder_choice=EmbedderChoice(bundled_embedder, "test"))
    with indexing.jobs.open("docs", workers=0) as job:
        report = job.run([MIXED])
    assert len(report.indexed) == 2
    return data_dir


def _serve(kb_dir: Path, bundled_embedder: Any, llm: FakeLLMServer | None) -> ServerThread:
    settings = _settings(kb_dir, llm)
    components = build_components(settings, embedder_choice=EmbedderChoice(bundled_embedder, "test"))
    return ServerThread(create_app(settings, components))


@pytest.fixture(scope="module")
def api(kb_dir: Path, bundled_embedder: Any, llm: FakeLLMServer) -> Iterator[str]:
    with _serve(kb_dir, bundled_embedder, llm) as server:
        yield server.base_url


@pytest.fixture(scope="module")
def api_no_llm(kb_dir: Path, bundled_embedder: Any) -> Iterator[str]:
    with _serve(kb_dir, bundled_embedder, None) as server:
        yield server.base_url


def test_json_answer_with_sources_citations_and_timings(api: str, llm: FakeLLMServer) -> None:
    before = len(llm.requests)
    response = httpx.post(f"{api}/ask", json={"question": QUESTION, "kb": "docs"}, timeout=30)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["answer"] == "The dock needs a dedicated 16 A circuit [citation:1]."
    assert body["reasoning"] == "The dock checklist mentions the circuit."
    assert body["sources"][0]["uri"].endswith("dock_checklist.md")
    assert body["citations"] == [
        {
            "source_id": 1,
            "title": body["sources"][0]["title"],
            "uri": body["sources"][0]["uri"],
            "origin": "kb",
            "count": 1,
        }
    ]
    assert body["model"] == "fake:fake-r1"
    assert body["usage"]["prompt_tokens"] > 0
    assert body["timings"]["total_ms"] >= body["timings"]["retrieval_ms"] > 0
    assert body["timings"]["llm_ttft_ms"] is not None
    sent = llm.requests[before].body
    assert [m["role"] for m in sent["messages"]] == ["user"]  # R1: no system prompt
    assert sent["temperature"] == pytest.approx(0.6)
    prompt = sent["messages"][0]["content"]
    assert "[1]" in prompt and "16 A circuit" in prompt and QUESTION in prompt and "[citation:N]" in prompt


def test_chinese_question_gets_the_chinese_template(api: str, llm: FakeLLMServer) -> None:
    before = len(llm.requests)
    response = httpx.post(f"{api}/ask", json={"question": "夜班交接时间是几点？", "kb": "docs"}, timeout=30)
    assert response.status_code == 200
    prompt = llm.requests[before].body["messages"][-1]["content"]
    assert "请仅根据下面编号的资料回答问题" in prompt and "问题：夜班交接时间是几点？" in prompt


def test_history_is_sent_without_reasoning(api: str, llm: FakeLLMServer) -> None:
    before = len(llm.requests)
    history = [
        {"role": "user", "content": "Where is the dock?"},
        {"role": "assistant", "content": "<think>secret chain</think>Near bay 3 [citation:1]."},
    ]
    response = httpx.post(f"{api}/ask", json={"question": QUESTION, "kb": "docs", "history": history}, timeout=30)
    assert response.status_code == 200
    messages = llm.requests[before].body["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant", "user"]
    assert "secret chain" not in json.dumps(messages)


def test_stream_sends_sources_first_then_deltas_then_done(api: str) -> None:
    events: list[tuple[str, Any]] = []
    with httpx.Client(timeout=30) as client:
        with connect_sse(client, "POST", f"{api}/ask", json={"question": QUESTION, "kb": "docs", "stream": True}) as es:
            assert es.response.headers["content-type"].startswith("text/event-stream")
            for sse in es.iter_sse():
                events.append((sse.event, json.loads(sse.data)))
    kinds = [kind for kind, _ in events]
    assert kinds[0] == "sources" and kinds[-1] == "done"
    assert "reasoning" in kinds and "answer" in kinds
    assert kinds.index("reasoning") < kinds.index("answer")
    answer = "".join(data["text"] for kind, data in events if kind == "answer")
    assert answer == "The dock needs a dedicated 16 A circuit [citation:1]."
    done = events[-1][1]
    assert done["citations"][0]["source_id"] == 1
    assert done["timings"]["total_ms"] > 0


def test_accept_header_selects_streaming(api: str) -> None:
    response = httpx.post(
        f"{api}/ask", json={"question": QUESTION, "kb": "docs"}, headers={"Accept": "text/event-stream"}, timeout=30
    )
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.text.lstrip().startswith("event: sources")


def test_reasoning_can_be_left_out(api: str) -> None:
    body = httpx.post(
        f"{api}/ask", json={"question": QUESTION, "kb": "docs", "include_reasoning": False}, timeout=30
    ).json()
    assert body["reasoning"] is None and body["answer"]


def test_citations_map_to_the_sources_they_name_and_a_wrong_one_is_removed(api: str, llm: FakeLLMServer) -> None:
    """The answer cites the sources out of retrieval order, in a looser form, and one that does
    not exist: each citation must point at the source with that number, in first-cited order."""
    ask = {"question": "dock circuit and shift handover", "kb": "docs", "top_k": 4}
    sources = httpx.post(f"{api}/ask", json=ask, timeout=30).json()["sources"]
    by_file = {Path(s["uri"]).name: s for s in sources}
    handover, dock = by_file["shift_handover.txt"]["id"], by_file["dock_checklist.md"]["id"]
    assert handover != dock
    llm.push(Script(answer=f"Handover notes [{handover}]. The dock needs 16 A [citation:{dock}] [citation:99]."))
    body = httpx.post(f"{api}/ask", json=ask, timeout=30).json()
    assert [(c["source_id"], Path(c["uri"]).name) for c in body["citations"]] == [
        (handover, "shift_handover.txt"),
        (dock, "dock_checklist.md"),
    ]
    assert body["answer"] == f"Handover notes [citation:{handover}]. The dock needs 16 A [citation:{dock}]."
    assert [w for w in body["warnings"] if "do not exist" in w] == [
        "the answer cites source number(s) 99, which do not exist; those citations were dropped"
    ]


@pytest.mark.parametrize(
    ("payload", "status", "fragment"),
    [
        ({"question": "   ", "kb": "docs"}, 400, "must not be empty"),
        ({"question": QUESTION, "kb": "nope"}, 404, "does not exist"),
        ({"question": QUESTION, "kb": "docs", "top_k": 0}, 400, "top_k"),
        ({"question": QUESTION, "kb": "docs", "top_k": 500}, 400, "top_k"),
        ({"question": "x" * 5000, "kb": "docs"}, 400, "limit"),
        ({"question": QUESTION, "kb": "bad name!"}, 400, "invalid knowledge base name"),
        ({"kb": "docs"}, 422, "question"),
        ({"question": QUESTION, "kb": "docs", "top_k": "many"}, 422, "top_k"),
        ({"question": QUESTION, "kb": "docs", "stream": True, "top_k": -1}, 400, "top_k"),
        ({"question": QUESTION, "kb": "missing", "stream": True}, 404, "does not exist"),
    ],
)
def test_bad_requests_get_4xx_with_a_message(api: str, payload: dict[str, Any], status: int, fragment: str) -> None:
    response = httpx.post(f"{api}/ask", json=payload, timeout=30)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert fragment in error["message"]
    assert "Traceback" not in response.text


def test_malformed_json_and_oversized_bodies(api: str) -> None:
    broken = httpx.post(f"{api}/ask", content=b"{not json", headers={"content-type": "application/json"}, timeout=30)
    assert broken.status_code == 400 and broken.json()["error"]["code"] == "invalid_json"
    huge = httpx.post(f"{api}/ask", json={"question": "x" * 400_000, "kb": "docs"}, timeout=30)
    assert huge.status_code == 413 and huge.json()["error"]["code"] == "payload_too_large"

    def chunks() -> Iterator[bytes]:
        yield b'{"question": "'
        for _ in range(40):
            yield b"y" * 10_000
        yield b'", "kb": "docs"}'

    chunked = httpx.post(f"{api}/ask", content=chunks(), headers={"content-type": "application/json"}, timeout=30)
    assert chunked.status_code == 413


def test_upstream_failure_is_a_json_503(api: str, llm: FakeLLMServer) -> None:
    """A model server answering 500 on every attempt is down for us: 503, not a bad response."""
    llm.push(*[Script(status=500) for _ in range(4)])
    response = httpx.post(f"{api}/ask", json={"question": QUESTION, "kb": "docs"}, timeout=30)
    assert response.status_code == 503, response.text
    assert response.json()["error"]["code"] == "llm_unavailable"


def test_upstream_rate_limit_maps_to_503_with_retry_after(api: str, llm: FakeLLMServer) -> None:
    llm.push(*[Script(status=429, retry_after="120") for _ in range(4)])
    response = httpx.post(f"{api}/ask", json={"question": QUESTION, "kb": "docs"}, timeout=30)
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "llm_rate_limited"
    assert int(response.headers["retry-after"]) >= 1


def test_upstream_drop_mid_stream_becomes_an_error_event(api: str, llm: FakeLLMServer) -> None:
    llm.push(Script(chunk_size=2, drop_after=5))
    kinds: list[str] = []
    last: Any = None
    with httpx.Client(timeout=30) as client:
        with connect_sse(client, "POST", f"{api}/ask", json={"question": QUESTION, "kb": "docs", "stream": True}) as es:
            assert es.response.status_code == 200
            for sse in es.iter_sse():
                kinds.append(sse.event)
                last = json.loads(sse.data)
    assert kinds[0] == "sources" and kinds[-1] == "error"
    assert last["code"].startswith("llm_") and last["message"]


def test_client_disconnect_cancels_the_upstream_request(api: str, llm: FakeLLMServer) -> None:
    llm.push(Script(chunk_size=1, chunk_delay=0.05, answer="a slow answer " * 40))
    before = len(llm.requests)
    with httpx.Client(timeout=30) as client:
        with connect_sse(client, "POST", f"{api}/ask", json={"question": QUESTION, "kb": "docs", "stream": True}) as es:
            for sse in es.iter_sse():
                if sse.event in ("reasoning", "answer"):
                    break
    assert llm.wait_until(lambda: len(llm.requests) > before and llm.requests[before].disconnected, seconds=10)
    assert not llm.requests[before].completed


def test_retrieval_only_mode_without_a_model(api_no_llm: str) -> None:
    body = httpx.post(f"{api_no_llm}/ask", json={"question": QUESTION, "kb": "docs"}, timeout=30).json()
    assert body["mode"] == "retrieval_only"
    assert body["answer"] == "" and body["citations"] == []
    assert "No language model is configured" in body["notice"]
    assert body["sources"][0]["uri"].endswith("dock_checklist.md")
    assert body["sources"][0]["score"] >= body["sources"][-1]["score"]


def test_health_and_readiness(api: str, api_no_llm: str) -> None:
    health = httpx.get(f"{api}/healthz").json()
    assert health["status"] == "ok"
    assert health["embedding"]["model"] == "sentence-transformers/all-MiniLM-L6-v2"
    ready = httpx.get(f"{api}/readyz")
    assert ready.status_code == 200
    checks = ready.json()["checks"]
    assert checks["store"]["ok"] and checks["store"]["knowledge_bases"] >= 1
    assert checks["llm"]["profiles"][0]["name"] == "fake"
    assert httpx.get(f"{api_no_llm}/readyz").json()["checks"]["llm"]["configured"] is False
    assert httpx.get(f"{api}/docs").status_code == 200
    kbs = httpx.get(f"{api}/kbs").json()["knowledge_bases"]
    assert [kb["name"] for kb in kbs] == ["docs"]
