"""Metrics on both services, request ids across them, JSON logs without secrets or documents."""

from __future__ import annotations

import io
import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import openai
import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from ingest.embedders.factory import EmbedderChoice
from ingest.errors import VectorIndexError
from ingest.kb_jobs import JobRules, KbJobs
from ingest.manifest import Manifest
from ingest.reindex import ReindexJob
from rag.api.jobs import JobManager
from rag.components import build_indexing
from rag.logging_setup import RedactSecrets
from rag.metrics import IngestMetrics, Tee
from rag.settings import RagSettings, WebSettings
from rag.web_client import SearchProxyClient
from search_proxy.app import create_app as create_proxy_app
from search_proxy.settings import Settings as ProxySettings
from tests.fakes.llm_server import FakeLLMServer, Script
from tests.fakes.servers import ServerThread
from tests.integration.search_proxy.sp_fakes import FakeProviders, Reply, searxng_ok
from tests.integration.search_proxy.sp_pages import ARTICLE_SENTENCE, PageSite
from tests.integration.search_proxy.sp_servers import LOCAL
from tests.integration.service.conftest import (
    MIXED,
    PEPPER,
    QUESTION,
    bearer,
    build_app,
    key,
    service_settings,
)

pytestmark = pytest.mark.integration

PROXY_KEY = "proxy-secret-for-observability"


def scrape(base_url: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    response = httpx.get(f"{base_url}/metrics", timeout=30)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    samples: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def value(samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def test_rag_metrics_move_after_requests(api: str) -> None:
    before = scrape(api)
    answered = httpx.post(f"{api}/ask", json={"question": QUESTION, "kb": "docs"}, headers=bearer("observer"))
    assert answered.status_code == 200
    assert httpx.get(f"{api}/kbs").status_code == 401
    assert httpx.get(f"{api}/no/such/route").status_code == 404
    after = scrape(api)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    ok = {"route": "/ask", "method": "POST", "status": "200"}
    assert delta("askdocs_http_requests_total", **ok) == 1
    assert delta("askdocs_http_request_duration_seconds_count", **ok) == 1
    assert delta("askdocs_http_requests_total", route="/kbs", method="GET", status="401") == 1
    assert delta("askdocs_http_requests_total", route="unmatched", method="GET", status="404") == 1
    assert delta("askdocs_auth_failures_total", reason="missing_api_key") == 1
    for stage in ("retrieval", "embed_query", "vector_search", "llm_ttft", "llm_total"):
        assert delta("askdocs_stage_duration_seconds_count", stage=stage) == 1, stage
    usage = answered.json()["usage"]
    assert delta("askdocs_llm_tokens_total", model="primary:fake-r1", direction="in") == usage["prompt_tokens"] > 0
    assert delta("askdocs_llm_tokens_total", model="primary:fake-r1", direction="out") == usage["completion_tokens"]
    assert value(after, "process_cpu_seconds_total") > 0


def test_llm_errors_are_counted_by_kind(api: str, llm: FakeLLMServer) -> None:
    before = scrape(api)
    ask = {"question": QUESTION, "kb": "docs"}
    # A Retry-After beyond retry_after_max moves on at once: one 429 per profile.
    llm.push(*[Script(status=429, retry_after="120") for _ in range(2)])
    assert httpx.post(f"{api}/ask", json=ask, headers=bearer("observer"), timeout=30).status_code == 503
    llm.push(*[Script(status=500) for _ in range(4)])  # two attempts per profile
    assert httpx.post(f"{api}/ask", json=ask, headers=bearer("observer"), timeout=30).status_code == 503
    llm.push(Script(status=401))  # the primary refuses: the backup profile answers
    fallback = httpx.post(f"{api}/ask", json=ask, headers=bearer("observer"), timeout=30)
    assert fallback.status_code == 200 and fallback.json()["model"] == "backup:fake-r1"
    after = scrape(api)
    for kind in ("rate_limited_429", "upstream_5xx", "fallback_used"):
        assert (
            value(after, "askdocs_llm_errors_total", kind=kind) - value(before, "askdocs_llm_errors_total", kind=kind)
            == 1
        ), kind


def test_request_ids_are_echoed_or_made(api: str) -> None:
    given = httpx.get(f"{api}/kbs", headers={**bearer("observer"), "X-Request-ID": "trace-123"})
    assert given.headers["x-request-id"] == "trace-123"
    made = httpx.get(f"{api}/kbs", headers=bearer("observer")).headers["x-request-id"]
    assert len(made) == 32 and int(made, 16) >= 0
    unsafe = httpx.get(f"{api}/kbs", headers={**bearer("observer"), "X-Request-ID": "a b\tc" * 40})
    assert unsafe.headers["x-request-id"] != "a b\tc" * 40 and len(unsafe.headers["x-request-id"]) == 32
    assert "x-request-id" in httpx.get(f"{api}/kbs").headers  # errors carry it too
    huge = httpx.post(f"{api}/ask", json={"question": "x" * 400_000, "kb": "docs"}, headers=bearer("observer"))
    assert huge.status_code == 413 and huge.headers["x-request-id"]


def test_json_logs_carry_the_request_id_and_no_secrets_or_text(api: str, json_logs: io.StringIO) -> None:
    sdk = openai.OpenAI(base_url=f"{api}/v1", api_key=key("observer"), max_retries=0)
    sdk.chat.completions.create(
        model="kb:docs",
        messages=[{"role": "user", "content": QUESTION}],
        extra_headers={"X-Request-ID": "trace-json-1"},
    )
    text = json_logs.getvalue()
    lines = [json.loads(line) for line in text.splitlines() if line.strip()]
    access = [r for r in lines if r["logger"] == "rag.access" and r.get("request_id") == "trace-json-1"]
    assert access and access[0]["route"] == "/v1/chat/completions" and access[0]["status"] == 200
    assert access[0]["key"] == "observer"
    assert key("observer") not in text and QUESTION not in text and "16 A circuit" not in text
    scrubbed = RedactSecrets()
    record = logging.LogRecord("x", logging.INFO, "", 0, "sent Bearer %s", (key("admin"),), None)
    scrubbed.filter(record)
    assert key("admin") not in record.getMessage() and "[redacted]" in record.getMessage()


@pytest.fixture(scope="module")
def web_stack(data_dir: Path, key_file: Path, llm: FakeLLMServer, bundled_embedder: Any) -> Iterator[dict[str, Any]]:
    """rag → search proxy (real app, shared secret) → fake SearXNG over plain HTTP → a page site."""
    providers, pages = FakeProviders(), PageSite()
    with ServerThread(providers.app) as provider_server, ServerThread(pages.app) as page_server:
        proxy_settings = ProxySettings(
            server={"api_key": PROXY_KEY},
            http={"retries": 0, "read_timeout_s": 3.0},
            providers={
                "order": ["searxng"],
                "searxng": {"base_url": f"{provider_server.base_url}/searxng", "allow_http": True},
            },
            fetch={"allow_networks": LOCAL},
            cache={"enabled": False},
        )
        with ServerThread(create_proxy_app(proxy_settings)) as proxy:
            settings = service_settings(
                data_dir,
                llm,
                auth={"keys_file": key_file, "pepper": PEPPER},
                web=WebSettings(proxy_url=proxy.base_url, api_key=PROXY_KEY, results=2, fetch_pages=1, deadline_s=5),
            )
            web = SearchProxyClient(proxy.base_url, PROXY_KEY)
            with ServerThread(build_app(settings, bundled_embedder, web=web)) as rag:
                yield {"rag": rag.base_url, "proxy": proxy.base_url, "pages": page_server.base_url, "fake": providers}


def test_request_id_reaches_the_search_proxy_and_both_export_metrics(
    web_stack: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    rag, proxy = web_stack["rag"], web_stack["proxy"]
    web_stack["fake"].script(
        "searxng", Reply(body=searxng_ok([("Crane checklist", f"{web_stack['pages']}/article", "cranes")]))
    )
    models = httpx.get(f"{rag}/v1/models", headers=bearer("observer")).json()["data"]
    assert [m["id"] for m in models] == ["kb:docs", "kb:docs+web"]
    with caplog.at_level(logging.INFO, logger="search_proxy.access"):
        response = httpx.post(
            f"{rag}/v1/chat/completions",
            json={"model": "kb:docs+web", "messages": [{"role": "user", "content": QUESTION}]},
            headers={**bearer("observer"), "X-Request-ID": "trace-web-42"},
            timeout=60,
        )
    assert response.status_code == 200, response.text
    assert response.headers["x-request-id"] == "trace-web-42"
    web_sources = [s for s in response.json()["sources"] if s["origin"] == "web"]
    assert web_sources and ARTICLE_SENTENCE in web_sources[0]["snippet"]
    seen = [r for r in caplog.records if r.name == "search_proxy.access" and getattr(r, "route", "") == "/search"]
    assert [getattr(r, "request_id", None) for r in seen] == ["trace-web-42"]

    proxied = scrape(proxy)
    assert value(proxied, "search_proxy_http_requests_total", route="/search", method="POST", status="200") >= 1
    assert value(proxied, "search_proxy_provider_duration_seconds_count", provider="searxng", outcome="ok") >= 1
    assert value(proxied, "search_proxy_page_fetch_duration_seconds_count", outcome="ok") >= 1
    assert value(scrape(rag), "askdocs_stage_duration_seconds_count", stage="web_search") >= 1

    direct = httpx.get(f"{proxy}/search", params={"q": "cranes"}, headers={"X-Request-ID": "direct-1"})
    assert direct.status_code == 401 and direct.headers["x-request-id"] == "direct-1"
    after = scrape(proxy)
    assert value(after, "search_proxy_http_requests_total", route="/search", method="GET", status="401") == 1


class _BrokenEmbedder:
    """The bundled model, except that embedding documents fails (a model server going away)."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        raise RuntimeError("embedding server went away")


def test_ingestion_counters_and_job_durations(tmp_path: Path, bundled_embedder: Any) -> None:
    from ingest.stores.factory import build_store

    store = build_store("chroma", path_or_uri=str(tmp_path / "chroma"))
    metrics = IngestMetrics()
    with Manifest(tmp_path / "metered.sqlite") as manifest:
        report = ReindexJob("metered", bundled_embedder, store, manifest, workers=0).run([MIXED], progress=Tee(metrics))
    assert len(report.indexed) == 2 and len(report.failed) == 1
    with Manifest(tmp_path / "fresh.sqlite") as manifest, pytest.raises(RuntimeError):  # every file is new again
        broken = ReindexJob("metered", _BrokenEmbedder(bundled_embedder), store, manifest, workers=0)  # type: ignore[arg-type]
        broken.run([MIXED], progress=metrics)
    samples = {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(generate_latest(metrics.registry).decode())
        for s in family.samples
    }
    assert value(samples, "askdocs_ingest_files_total", status="indexed") == 2
    assert value(samples, "askdocs_ingest_files_total", status="skipped") == 2  # once per job
    assert value(samples, "askdocs_ingest_chunks_total") == report.chunks_written > 0
    assert value(samples, "askdocs_ingest_failures_total", kind="file") == 2
    assert value(samples, "askdocs_ingest_failures_total", kind="job") == 1
    assert value(samples, "askdocs_ingest_job_duration_seconds_count", outcome="partial") == 1
    assert value(samples, "askdocs_ingest_job_duration_seconds_count", outcome="failed") == 1


class _SwapFails:
    """A real store whose collection swap fails (the server going away at the worst moment)."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def replace_kb(self, kb: str, staging: str) -> None:
        raise VectorIndexError("the store went away during the swap")


def _wait_for_end(jobs: JobManager, job_id: str) -> Any:
    deadline = time.monotonic() + 120
    while (status := jobs.get(job_id)) is not None and status.state in ("queued", "running"):
        assert time.monotonic() < deadline, "the job never ended"
        time.sleep(0.05)
    return status


def test_a_full_rebuild_whose_swap_fails_counts_as_failed(tmp_path: Path, bundled_embedder: Any) -> None:
    indexing = build_indexing(RagSettings(data_dir=tmp_path), embedder_choice=EmbedderChoice(bundled_embedder, "test"))
    store = _SwapFails(indexing.store)
    jobs_of = KbJobs(tmp_path, bundled_embedder, store, indexing.lexical, JobRules())  # type: ignore[arg-type]
    metrics = IngestMetrics()
    jobs = JobManager(SimpleNamespace(jobs=jobs_of), metrics)  # type: ignore[arg-type]

    plain = _wait_for_end(jobs, jobs.start("metered", [MIXED], delete_missing=True).id)
    rebuilt = _wait_for_end(jobs, jobs.start("metered", [MIXED], delete_missing=True, full=True).id)

    assert plain.state == "partial"  # the corrupt file of MIXED
    assert rebuilt.state == "failed" and "went away during the swap" in (rebuilt.message or "")
    samples = {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(generate_latest(metrics.registry).decode())
        for s in family.samples
    }
    assert value(samples, "askdocs_ingest_job_duration_seconds_count", outcome="partial") == 1
    assert value(samples, "askdocs_ingest_job_duration_seconds_count", outcome="failed") == 1
    assert value(samples, "askdocs_ingest_job_duration_seconds_count", outcome="ok") == 0
    assert value(samples, "askdocs_ingest_failures_total", kind="job") == 1
