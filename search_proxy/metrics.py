"""Prometheus metrics of the search proxy, one ``CollectorRegistry`` per app.

Providers and the page fetcher are timed by wrapping them where the app builds them, so the
provider adapters and the fetcher stay free of metrics code. Request ids and the HTTP metrics
middleware are ``servicekit``'s, shared with the answering service.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    ProcessCollector,
    generate_latest,
)
from starlette.types import ASGIApp

from search_proxy.errors import ProviderError
from search_proxy.fetch.fetcher import PageFetcher, PageText
from search_proxy.models import ProviderAnswer, ProviderQuery
from search_proxy.providers.base import SearchProvider
from servicekit.http_metrics import HttpObservability

log = logging.getLogger("search_proxy.access")

CONTENT_TYPE = CONTENT_TYPE_LATEST
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


class ObservabilityMiddleware(HttpObservability):
    """``servicekit``'s HTTP middleware over this app's request metrics."""

    def __init__(self, app: ASGIApp, metrics: ProxyMetrics) -> None:
        super().__init__(app, requests=metrics.http_requests, latency=metrics.http_latency, access_log=log)
