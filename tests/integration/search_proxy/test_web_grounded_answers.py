"""/ask with web results: the real search proxy (HTTPS fake provider) beside a knowledge base.

Knowledge-base passages and web pages share one citation space; a proxy that is down or returns
nothing never fails the answer, it only adds a warning.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from httpx_sse import connect_sse

from ingest.embedders.factory import EmbedderChoice
from rag.api.app import create_app as create_rag_app
from rag.components import build_components, build_indexing
from rag.llm.settings import LLMSettings
from rag.settings import RagSettings, WebSettings
from rag.web_client import SearchProxyClient
from search_proxy.app import create_app as create_proxy_app
from search_proxy.settings import HttpSettings, Settings
from tests.fakes.llm_server import FakeLLMServer, Script
from tests.fakes.servers import ServerThread
from tests.integration.search_proxy.sp_fakes import Impostor, Reply, searxng_ok
from tests.integration.search_proxy.sp_pages import ARTICLE_SENTENCE
from tests.integration.search_proxy.sp_servers import LOCAL

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]
KEY = "shared-secret-for-web-answers"
QUESTION = "What circuit does the charging dock need, and what does a crane inspection cover?"


@pytest.fixture(scope="module")
def proxy_url(_providers_server: Any, tls: Any) -> Iterator[str]:
    _fake, provider_server = _providers_server
    settings = Settings(
        server={"api_key": KEY},
        http=HttpSettings(ca_bundle=tls.ca_pem, retries=0, read_timeout_s=3.0),
        providers={"order": ["searxng"], "searxng": {"base_url": f"{provider_server.base_url}/searxng"}},
        fetch={"allow_networks": LOCAL},
        cache={"enabled": False},
    )
    with ServerThread(create_proxy_app(settings)) as server:
        yield server.base_url


@pytest.fixture(scope="module")
def llm() -> Iterator[FakeLLMServer]:
    with FakeLLMServer() as server:
        yield server


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory, bundled_embedder: Any) -> Path:
    data_dir = tmp_path_factory.mktemp("web-kb")
    indexing = build_indexing(RagSettings(data_dir=data_dir), embedder_choice=EmbedderChoice(bundled_embedder, "t"))
    with indexing.jobs.open("docs", workers=0) as job:
        job.run([ROOT / "tests" / "fixtures" / "mixed_batch"])
    return data_dir


def _rag(
    data_dir: Path,
    llm: FakeLLMServer,
    embedder: Any,
    proxy: str,
    auto_min_score: float = 0.45,
    deadline_s: float = 4.0,
) -> ServerThread:
    settings = RagSettings(
        data_dir=data_dir,
        llm=LLMSettings(profiles=["fake"], overrides={"fake": {"base_url": llm.base_url, "model": "r1"}}),
        web=WebSettings(
            proxy_url=proxy,
            api_key=KEY,
            results=2,
            fetch_pages=1,
            deadline_s=deadline_s,
            auto_min_score=auto_min_score,
        ),
    )
    web = SearchProxyClient(proxy, KEY)
    components = build_components(settings, embedder_choice=EmbedderChoice(embedder, "t"), web=web)
    return ServerThread(create_rag_app(settings, components))


def test_kb_and_web_sources_share_one_citation_space(
    data_dir: Path, llm: FakeLLMServer, bundled_embedder: Any, proxy_url: str, providers: Any, pages_url: str
) -> None:
    providers.script("searxng", Reply(body=searxng_ok([("Crane checklist", f"{pages_url}/article", "cranes")])))
    llm.push(Script(answer="The dock needs a 16 A circuit [citation:1]. Cranes: hydraulics [citation:2]."))
    before = len(llm.requests)
    with _rag(data_dir, llm, bundled_embedder, proxy_url) as rag:
        body = httpx.post(
            f"{rag.base_url}/ask", json={"question": QUESTION, "kb": "docs", "top_k": 1, "web": True}, timeout=30
        ).json()
    assert [s["id"] for s in body["sources"]] == list(range(1, len(body["sources"]) + 1))
    assert [s["origin"] for s in body["sources"]][:2] == ["kb", "web"]
    web = body["sources"][1]
    assert web["uri"] == f"{pages_url}/article" and ARTICLE_SENTENCE in web["snippet"]
    assert [(c["source_id"], c["origin"]) for c in body["citations"]] == [(1, "kb"), (2, "web")]
    assert body["timings"]["web_ms"] is not None
    prompt = llm.requests[before].body["messages"][-1]["content"]
    assert '<web_source id="2">' in prompt and "UNTRUSTED" in prompt
    assert prompt.index("<web_source") > prompt.index('<source id="1">')


def test_proxy_down_still_answers_from_the_kb_with_a_warning(
    data_dir: Path, llm: FakeLLMServer, bundled_embedder: Any
) -> None:
    llm.push(Script(answer="The dock needs a 16 A circuit [citation:1]."))
    with _rag(data_dir, llm, bundled_embedder, f"http://127.0.0.1:{_closed_port()}") as rag:
        response = httpx.post(f"{rag.base_url}/ask", json={"question": QUESTION, "kb": "docs", "web": True}, timeout=30)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["answer"] and all(s["origin"] == "kb" for s in body["sources"])
        assert any("web search failed" in w for w in body["warnings"])
        llm.push(Script(answer="Streamed [citation:1]."))
        kinds: list[str] = []
        warnings: list[str] = []
        with (
            httpx.Client(timeout=30) as client,
            connect_sse(
                client,
                "POST",
                f"{rag.base_url}/ask",
                json={"question": QUESTION, "kb": "docs", "web": True, "stream": True},
            ) as es,
        ):
            for sse in es.iter_sse():
                kinds.append(sse.event)
                if sse.event == "warning":
                    warnings.append(json.loads(sse.data)["message"])
    assert kinds[0] == "sources" and kinds[-1] == "done" and "warning" in kinds
    assert any("web search failed" in w for w in warnings)


@pytest.fixture(scope="module")
def impostor_url() -> Iterator[str]:
    with ServerThread(Impostor().app) as server:
        yield server.base_url


@pytest.mark.parametrize(
    ("kind", "reason"),
    [
        ("stall", "search proxy did not answer within 1 s"),
        ("truncated", "search proxy returned a malformed response"),
        ("error500", "search proxy returned HTTP 500: <html><body>Internal Server Error</body></html>"),
        ("error502", "search proxy returned HTTP 502: all_providers_failed: every search provider failed"),
    ],
)
def test_a_failing_proxy_leaves_a_knowledge_base_answer_within_the_deadline(
    data_dir: Path, llm: FakeLLMServer, bundled_embedder: Any, impostor_url: str, kind: str, reason: str
) -> None:
    llm.push(Script(answer="The dock needs a 16 A circuit [citation:1]."))
    with _rag(data_dir, llm, bundled_embedder, f"{impostor_url}/{kind}", deadline_s=1.0) as rag:
        response = httpx.post(f"{rag.base_url}/ask", json={"question": QUESTION, "kb": "docs", "web": True}, timeout=30)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["answer"] and body["sources"] and all(s["origin"] == "kb" for s in body["sources"])
    assert f"web search failed, answering from the knowledge base only: {reason}" in body["warnings"]
    assert body["timings"]["web_ms"] < 1300  # the 1 s web deadline plus scheduling slack


def test_empty_web_results_are_a_warning_not_an_error(
    data_dir: Path, llm: FakeLLMServer, bundled_embedder: Any, proxy_url: str, providers: Any
) -> None:
    empty = searxng_ok()
    empty["results"] = []
    providers.script("searxng", Reply(body=empty))
    llm.push(Script(answer="From the documents [citation:1]."))
    with _rag(data_dir, llm, bundled_embedder, proxy_url) as rag:
        body = httpx.post(
            f"{rag.base_url}/ask", json={"question": QUESTION, "kb": "docs", "web": True}, timeout=30
        ).json()
    assert body["answer"] and all(s["origin"] == "kb" for s in body["sources"])
    assert any("web" in w for w in body["warnings"])


def test_auto_searches_only_when_the_kb_is_weak(
    data_dir: Path, llm: FakeLLMServer, bundled_embedder: Any, proxy_url: str, providers: Any, pages_url: str
) -> None:
    strong = "What circuit does the charging dock need?"
    with _rag(data_dir, llm, bundled_embedder, proxy_url, auto_min_score=0.2) as rag:
        body = httpx.post(
            f"{rag.base_url}/ask", json={"question": strong, "kb": "docs", "web": "auto"}, timeout=30
        ).json()
    assert providers.calls("searxng") == [] and body["timings"]["web_ms"] is None
    providers.script("searxng", Reply(body=searxng_ok([("Crane checklist", f"{pages_url}/article", "cranes")])))
    with _rag(data_dir, llm, bundled_embedder, proxy_url, auto_min_score=0.99) as rag:
        body = httpx.post(
            f"{rag.base_url}/ask", json={"question": strong, "kb": "docs", "web": "auto"}, timeout=30
        ).json()
    assert len(providers.calls("searxng")) == 1
    assert any(s["origin"] == "web" for s in body["sources"])
