"""Prometheus metrics and request ids for the search proxy, one ``CollectorRegistry`` per app.

Providers and the page fetcher are timed by wrapping them where the app builds them, so the
provider adapters and the fetcher stay free of metrics code. The request id comes from the
caller's ``X-Request-ID`` (the rag service forwards its own) or is made here, is echoed in the
response and is put on every log record written while the request is handled.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
import uuid
from contextvars import ContextVar
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    ProcessCollector,
    generate_latest,
)
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from search_proxy.errors import ProviderError
from search_proxy.fetch.fetcher import PageFetcher, PageText
from search_proxy.models import ProviderAnswer, ProviderQuery
from search_proxy.providers.base import SearchProvider

log = logging.getLogger("search_proxy.access")

REQUEST_ID_HEADER = "X-Request-ID"
CONTENT_TYPE = CONTENT_TYPE_LATEST
_VALID_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_request_id: ContextVar[str | None] = ContextVar("search_proxy_request_id", default=None)
BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0)


class ProxyMetrics:
    """Request, provider and page-fetch metrics of one search-proxy app."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        ProcessCollector(registry=r)
        self.http_requests = Counter(
            "search_proxy_http_requests",
            "HTTP requests by route template and status",
            ["route", "method", "status"],
            registry=r,
        )
        self.http_latency = Histogram(
            "search_proxy_http_request_duration_seconds",
            "Time to answer a request",
            ["route", "method", "status"],
            buckets=BUCKETS,
            registry=r,
        )
        self.provider_latency = Histogram(
            "search_proxy_provider_duration_seconds",
            "One provider's search, retries included",
            ["provider", "outcome"],
            buckets=BUCKETS,
            registry=r,
        )
        self.page_fetch_latency = Histogram(
            "search_proxy_page_fetch_duration_seconds",
            "Fetching and extracting one result page",
            ["outcome"],
            buckets=BUCKETS,
            registry=r,
        )

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class TimedProvider:
    """A ``SearchProvider`` that records how long the wrapped one took and how it ended."""

    def __init__(self, inner: SearchProvider, metrics: ProxyMetrics) -> None:
        self.name = inner.name
        self._inner = inner
        self._metrics = metrics

    async def search(self, query: ProviderQuery) -> ProviderAnswer:
        began = time.perf_counter()
        outcome = "error"
        try:
            answer = await self._inner.search(query)
            outcome = "ok" if answer.hits else "empty"
            return answer
        except ProviderError as exc:
            outcome = exc.code
            raise
        finally:
            self._metrics.provider_latency.labels(self.name, outcome).observe(time.perf_counter() - began)


class TimedPageFetcher(PageFetcher):
    """``PageFetcher`` whose per-page fetch is timed (``fetch_many`` calls ``fetch_text`` per page)."""

    def __init__(self, *args: Any, metrics: ProxyMetrics, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._metrics = metrics

    async def fetch_text(self, url: str) -> PageText:
        began = time.perf_counter()
        outcome = "error"
        try:
            page = await super().fetch_text(url)
            outcome = "truncated" if page.truncated else "ok"
            return page
        except BaseException as exc:
            outcome = "timeout_or_cancelled" if isinstance(exc, TimeoutError | asyncio.CancelledError) else "error"
            raise
        finally:
            self._metrics.page_fetch_latency.labels(outcome).observe(time.perf_counter() - began)


def install_record_factory() -> None:
    """Put ``request_id`` on every log record made while a request is handled (idempotent)."""
    previous = logging.getLogRecordFactory()
    if getattr(previous, "_search_proxy_request_id", False):
        return

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        request_id = _request_id.get()
        if request_id is not None and not hasattr(record, "request_id"):
            record.request_id = request_id
        return record

    factory._search_proxy_request_id = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)


class ObservabilityMiddleware:
    """Request id in and out, request count and latency by route template, one access-log line."""

    def __init__(self, app: ASGIApp, metrics: ProxyMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = Headers(scope=scope).get(REQUEST_ID_HEADER)
        request_id = incoming if incoming and _VALID_ID.match(incoming) else uuid.uuid4().hex
        token = _request_id.set(request_id)
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                MutableHeaders(scope=message)[REQUEST_ID_HEADER] = request_id
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            route = str(getattr(scope.get("route"), "path", "unmatched"))
            method = str(scope.get("method", ""))
            self.metrics.http_requests.labels(route, method, str(status)).inc()
            self.metrics.http_latency.labels(route, method, str(status)).observe(elapsed)
            if route not in ("/metrics", "/healthz", "/readyz"):
                log.info(
                    "request",
                    extra={"method": method, "route": route, "status": status, "duration_ms": round(elapsed * 1000)},
                )
            _request_id.reset(token)
