"""Prometheus metrics of the answering service, one ``CollectorRegistry`` per app.

Code deep in a request (orchestrator, retrievers, running in worker threads too) records into
the metrics of the app serving the request through a context variable that the HTTP middleware
sets, so nothing has to pass a metrics object around and code used outside the API (CLI,
evaluation) records nothing. Label values are bounded: route templates, stages, status codes,
model names and error kinds; never knowledge-base names, keys or questions.

Stages timed (``askdocs_stage_duration_seconds{stage=...}``): ``retrieval`` (all of it),
``embed_query``, ``vector_search``, ``lexical_search``, ``fusion``, ``read_candidates`` (the text
and metadata of the candidates used), ``rerank``, ``web_search``, ``llm_ttft``, ``llm_total``.

Under ``rag serve --workers N`` a scrape reaches one worker, so the workers keep their values in
prometheus_client's multiprocess files (``PROMETHEUS_MULTIPROC_DIR``, set by ``rag serve`` before
they start) and any of them exposes the sum of all. The per-process collectors (process CPU and
memory, the model profiles' circuits) then describe the worker that answered the scrape only; the
process collector is left out there, since its figures would change with every scrape.
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    generate_latest,
    push_to_gateway,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Scope

from ingest.progress import FileOutcome, JobReport, ProgressListener
from rag.errors import LLMBadResponse, LLMError, LLMRateLimited, LLMTimeout, LLMUnavailable
from rag.llm.breaker import STATE_VALUES, CircuitBreaker
from rag.llm.events import AnswerDelta, ChatEvent, ReasoningDelta, StreamStart, Usage
from servicekit.http_metrics import HttpObservability

log = logging.getLogger("rag.access")

HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
STAGE_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
JOB_BUCKETS = (1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 3600.0, 4 * 3600.0)
LLM_ERROR_KINDS = (
    "timeout",
    "rate_limited_429",
    "upstream_5xx",
    "unavailable",
    "bad_response",
    "other",
    "fallback_used",
)
_HTTP_5XX = re.compile(r"HTTP 5\d\d")
MULTIPROCESS_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"


def across_workers() -> bool:
    """Whether this process is one of several server workers that share their metrics."""
    return bool(os.environ.get(MULTIPROCESS_DIR_ENV))


class RagMetrics:
    """Every metric of the rag service, registered in its own registry (tests build many apps)."""

    def __init__(self, registry: CollectorRegistry | None = None, *, process: bool = True) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self._shared = across_workers()
        self._own_collectors: list[Collector] = []
        if process and not self._shared:
            ProcessCollector(registry=r)
        self.http_requests = Counter(
            "askdocs_http_requests",
            "HTTP requests by route template and status",
            ["route", "method", "status"],
            registry=r,
        )
        self.http_latency = Histogram(
            "askdocs_http_request_duration_seconds",
            "Time until the last byte of the response (streams included)",
            ["route", "method", "status"],
            buckets=HTTP_BUCKETS,
            registry=r,
        )
        self.stage_latency = Histogram(
            "askdocs_stage_duration_seconds",
            "Time spent in one stage of answering",
            ["stage"],
            buckets=STAGE_BUCKETS,
            registry=r,
        )
        self.llm_tokens = Counter(
            "askdocs_llm_tokens", "Tokens reported by the model endpoint", ["model", "direction"], registry=r
        )
        self.llm_errors = Counter(
            "askdocs_llm_errors",
            "Model failures by kind, and answers served by a fallback profile",
            ["kind"],
            registry=r,
        )
        self.streams_in_flight = Gauge(
            "askdocs_answers_in_flight",
            "Answers being generated now (streamed or not)",
            registry=r,
            multiprocess_mode="livesum",
        )
        self.auth_failures = Counter(
            "askdocs_auth_failures", "Refused requests: missing/invalid key or missing scope", ["reason"], registry=r
        )
        self.rate_limited = Counter(
            "askdocs_rate_limited", "Requests refused with 429 by the per-key limits", ["limit"], registry=r
        )
        self.ingest = IngestMetrics(r)

    def watch_breakers(self, breakers: Mapping[str, CircuitBreaker]) -> None:
        """Export the LLM profiles' circuit breakers, read at scrape time."""
        collector = _BreakerCollector(breakers)
        self.registry.register(collector)
        self._own_collectors.append(collector)

    # -- recording ------------------------------------------------------------------------
    def observe_stage(self, stage: str, seconds: float) -> None:
        self.stage_latency.labels(stage).observe(max(seconds, 0.0))

    def record_usage(self, model: str, prompt_tokens: int, completion_tokens: int, reasoning_tokens: int) -> None:
        self.llm_tokens.labels(model, "in").inc(prompt_tokens)
        self.llm_tokens.labels(model, "out").inc(completion_tokens)
        if reasoning_tokens:
            self.llm_tokens.labels(model, "reasoning").inc(reasoning_tokens)

    def exposition(self) -> bytes:
        if not self._shared:
            return generate_latest(self.registry)
        combined = CollectorRegistry()
        MultiProcessCollector(combined)  # type: ignore[no-untyped-call]
        for collector in self._own_collectors:
            combined.register(collector)
        return generate_latest(combined)


class _BreakerCollector(Collector):
    """``askdocs_llm_circuit_state{profile}`` (0 closed, 1 half-open, 2 open) and how often each opened."""

    def __init__(self, breakers: Mapping[str, CircuitBreaker]) -> None:
        self.breakers = breakers

    def collect(self) -> Iterator[Metric]:
        state = GaugeMetricFamily(
            "askdocs_llm_circuit_state",
            "LLM profile circuit: 0 closed, 1 half-open (probing), 2 open",
            labels=["profile"],
        )
        opened = CounterMetricFamily(
            "askdocs_llm_circuit_opened", "Times an LLM profile's circuit opened", labels=["profile"]
        )
        for name, breaker in self.breakers.items():
            state.add_metric([name], STATE_VALUES[breaker.state])
            opened.add_metric([name], breaker.opened_total)
        yield state
        yield opened


class IngestMetrics(ProgressListener):
    """Ingestion counters as a ``ProgressListener``: pass it (or ``tee`` it) to a job's ``run``
    (``ReindexJob``) or to ``Indexer.ingest_documents``.

    A batch job (``rag ingest`` in a CronJob) has no ``/metrics`` to scrape; ``push`` sends the
    counters to a Prometheus Pushgateway when one is configured.
    """

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.files = Counter("askdocs_ingest_files", "Files processed by ingestion", ["status"], registry=r)
        self.chunks = Counter("askdocs_ingest_chunks", "Chunks written to the index", registry=r)
        self.failures = Counter(
            "askdocs_ingest_failures",
            "Files skipped (parse errors, empty, unsupported) and jobs that failed",
            ["kind"],
            registry=r,
        )
        self.jobs = Histogram(
            "askdocs_ingest_job_duration_seconds",
            "Duration of one ingestion job",
            ["outcome"],
            buckets=JOB_BUCKETS,
            registry=r,
        )

    def file_done(self, outcome: FileOutcome) -> None:
        self.files.labels(outcome.status).inc()
        if outcome.status == "indexed":
            self.chunks.inc(outcome.chunks)
        else:
            self.failures.labels("file").inc()

    def job_done(self, report: JobReport) -> None:
        self.record_job(report.seconds, "ok" if report.ok else "partial")

    def job_failed(self, error: BaseException, seconds: float) -> None:  # noqa: ARG002 - the kind is enough
        self.failures.labels("job").inc()
        self.record_job(seconds, "failed")

    def record_job(self, seconds: float, outcome: str) -> None:
        """For job runners with reports of their own (re-index): ``ok``, ``partial`` or ``failed``."""
        self.jobs.labels(outcome).observe(seconds)

    def push(self, gateway: str, job: str = "askdocs_ingest") -> None:
        """Send the counters to a Pushgateway (``RAG_METRICS__PUSHGATEWAY_URL``); failures are logged only."""
        try:
            push_to_gateway(gateway, job=job, registry=self.registry)
        except OSError as exc:
            logging.getLogger(__name__).warning("could not push ingestion metrics to %s: %s", gateway, exc)


class Tee(ProgressListener):
    """Forwards progress to several listeners (the CLI's progress bar and the metrics)."""

    def __init__(self, *listeners: ProgressListener) -> None:
        self.listeners = listeners

    def files_found(self, total: int) -> None:
        for listener in self.listeners:
            listener.files_found(total)

    def file_done(self, outcome: FileOutcome) -> None:
        for listener in self.listeners:
            listener.file_done(outcome)

    def chunks_embedded(self, count: int) -> None:
        for listener in self.listeners:
            listener.chunks_embedded(count)

    def job_done(self, report: JobReport) -> None:
        for listener in self.listeners:
            listener.job_done(report)

    def job_failed(self, error: BaseException, seconds: float) -> None:
        for listener in self.listeners:
            listener.job_failed(error, seconds)


# -- the metrics of the request being handled --------------------------------------------------
_current: ContextVar[RagMetrics | None] = ContextVar("askdocs_metrics", default=None)


def current() -> RagMetrics | None:
    """The metrics of the app serving this request; ``None`` outside the API."""
    return _current.get()


def observe_stage(stage: str, seconds: float) -> None:
    metrics = _current.get()
    if metrics is not None:
        metrics.observe_stage(stage, seconds)


@contextmanager
def stage(name: str) -> Iterator[None]:
    """Time a block as ``askdocs_stage_duration_seconds{stage=name}`` (also when it raises)."""
    began = time.perf_counter()
    try:
        yield
    finally:
        observe_stage(name, time.perf_counter() - began)


def record_usage(model: str, prompt_tokens: int, completion_tokens: int, reasoning_tokens: int = 0) -> None:
    metrics = _current.get()
    if metrics is not None:
        metrics.record_usage(model, prompt_tokens, completion_tokens, reasoning_tokens)


def llm_error_kind(exc: BaseException) -> str:
    """The ``kind`` label for a model failure, from the error class the chat client raised."""
    if isinstance(exc, LLMTimeout):
        return "timeout"
    if isinstance(exc, LLMRateLimited):
        return "rate_limited_429"
    if isinstance(exc, LLMUnavailable):
        return "upstream_5xx" if _HTTP_5XX.search(str(exc)) else "unavailable"
    if isinstance(exc, LLMBadResponse):
        return "bad_response"
    return "other"


def record_llm_error(kind: str) -> None:
    metrics = _current.get()
    if metrics is not None:
        metrics.llm_errors.labels(kind).inc()


async def instrument_chat(stream: AsyncIterator[ChatEvent], chat: Any) -> AsyncIterator[ChatEvent]:
    """Pass a ``ChatModel`` stream through, recording time to first token, total time, tokens,
    failures by kind and answers that came from a fallback profile."""
    began = time.perf_counter()
    first_token = True
    model = "unknown"
    profiles = getattr(chat, "profiles", None) or ()
    try:
        async for event in stream:
            if isinstance(event, StreamStart):
                model = f"{event.profile}:{event.model}"
                if profiles and event.profile != getattr(profiles[0], "name", event.profile):
                    record_llm_error("fallback_used")
            elif isinstance(event, ReasoningDelta | AnswerDelta) and first_token:
                first_token = False
                observe_stage("llm_ttft", time.perf_counter() - began)
            elif isinstance(event, Usage):
                record_usage(model, event.prompt_tokens, event.completion_tokens, event.reasoning_tokens)
            yield event
    except LLMError as exc:
        record_llm_error(llm_error_kind(exc))
        raise
    finally:
        observe_stage("llm_total", time.perf_counter() - began)
        close = getattr(stream, "aclose", None)
        if close is not None:
            await close()


# -- HTTP: request id, request metrics, access log (servicekit), with this app's metrics current
@contextmanager
def _current_metrics(metrics: RagMetrics) -> Iterator[None]:
    token = _current.set(metrics)
    try:
        yield
    finally:
        _current.reset(token)


def _error_response(exc: Exception) -> ASGIApp:
    from rag.api.error_handlers import error_response  # the API imports this module

    return error_response(exc)


def _key_name(scope: Scope) -> dict[str, Any]:
    return {"key": scope.get("askdocs", {}).get("key_name")}


class ObservabilityMiddleware(HttpObservability):
    """``servicekit``'s HTTP middleware with this app's metrics current during the request (code
    deep in a request records through ``current()``), an escaped exception answered as our JSON
    500, and the API key's name in the access log."""

    def __init__(self, app: ASGIApp, metrics: RagMetrics, routes_of: Any = None) -> None:
        super().__init__(
            app,
            requests=metrics.http_requests,
            latency=metrics.http_latency,
            access_log=log,
            routes_of=routes_of,
            around=lambda: _current_metrics(metrics),
            on_error=_error_response,
            log_extra=_key_name,
        )


def exposition_headers() -> dict[str, str]:
    return {"Content-Type": CONTENT_TYPE_LATEST}
