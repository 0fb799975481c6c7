"""The HTTP surface: ``/search`` (GET and POST), ``/healthz``, ``/readyz`` and ``/metrics``.

Backends are built in ``lifespan`` so importing this module or calling ``create_app`` opens no
connection. Every error becomes a JSON ``{"error": {message, type, code, warnings}}`` body
(``http_errors``); each route documents the statuses it can answer with.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Query
from fastapi.responses import JSONResponse, Response

from search_proxy.cache import TTLCache
from search_proxy.chain import ProviderChain
from search_proxy.deps import ServiceDep, SettingsDep, require_json, require_key
from search_proxy.fetch.ssrf import Resolver
from search_proxy.http_errors import install_error_handlers
from search_proxy.metrics import (
    CONTENT_TYPE,
    ObservabilityMiddleware,
    ProxyMetrics,
    TimedPageFetcher,
    TimedProvider,
)
from search_proxy.models import ErrorResponse, HealthResponse, ReadyResponse, SearchRequest, SearchResponse
from search_proxy.providers.factory import build_providers
from search_proxy.service import SearchService
from search_proxy.settings import Settings, get_settings
from search_proxy.upstream import build_provider_client, build_ssl_context
from servicekit.logs import RedactSecrets
from servicekit.request_ids import install_record_factory

log = logging.getLogger("search_proxy.app")
_DESCRIPTIONS = {
    400: "The body is not valid JSON or not UTF-8.",
    401: "Missing or wrong X-Search-Proxy-Key.",
    415: "The body is not declared as JSON.",
    422: "A parameter is invalid; the message names it.",
    502: "Every provider failed; warnings say why.",
    503: "No provider is configured.",
    504: "The deadline ran out before any provider answered; warnings name those not tried.",
}


def _errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {status: {"model": ErrorResponse, "description": _DESCRIPTIONS[status]} for status in statuses}


def create_app(settings: Settings | None = None, *, resolver: Resolver | None = None) -> FastAPI:
    """Build the app; ``resolver`` lets tests map page host names to local servers."""
    settings = settings or get_settings()
    metrics = ProxyMetrics()
    install_record_factory()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        client = build_provider_client(settings.http)
        ca = str(settings.http.ca_bundle) if settings.http.ca_bundle else None
        fetcher = TimedPageFetcher(
            settings.fetch, ssl_context=build_ssl_context(ca), resolver=resolver, metrics=metrics
        )
        cache: TTLCache[SearchResponse] | None = None
        if settings.cache.enabled:
            cache = TTLCache(settings.cache.ttl_s, settings.cache.max_entries)
        providers = [TimedProvider(p, metrics) for p in build_providers(settings, client)]
        chain = ProviderChain(providers, RedactSecrets(settings.secret_values()))
        app.state.service = SearchService(settings, chain, fetcher, cache)
        log.info("search proxy ready", extra={"providers": chain.names})
        try:
            yield
        finally:
            await fetcher.aclose()
            await client.aclose()

    app = FastAPI(title="search-proxy", version="0.1.0", lifespan=lifespan)
    app.state.settings = settings
    app.state.metrics = metrics
    app.add_middleware(ObservabilityMiddleware, metrics=metrics)

    install_error_handlers(app)

    keyed = settings.server.api_key is not None
    guarded = [Depends(require_key)] if keyed else []
    auth = (401,) if keyed else ()

    @app.get(
        "/search", response_model=SearchResponse, dependencies=guarded, responses=_errors(*auth, 422, 502, 503, 504)
    )
    async def search_get(params: Annotated[SearchRequest, Query()], service: ServiceDep) -> SearchResponse:
        """Search the web through the provider chain; ``fetch`` adds page text."""
        return await service.search(params)

    @app.post(
        "/search",
        response_model=SearchResponse,
        dependencies=[*guarded, Depends(require_json)],
        responses=_errors(400, *auth, 415, 422, 502, 503, 504),
    )
    async def search_post(body: SearchRequest, service: ServiceDep) -> SearchResponse:
        """Same as ``GET /search`` with a JSON body."""
        return await service.search(body)

    @app.get("/healthz", response_model=HealthResponse)
    async def healthz() -> HealthResponse:
        """Liveness: the process answers."""
        return HealthResponse(status="ok")

    @app.get(
        "/readyz",
        response_model=ReadyResponse,
        responses={503: {"model": ReadyResponse, "description": "No provider is configured."}},
    )
    async def readyz(settings: SettingsDep) -> JSONResponse:
        """Readiness: which providers are configured, in chain order (no secrets)."""
        configured = settings.configured_providers()
        body = ReadyResponse(
            status="ready" if configured else "no_provider", providers=configured, order=settings.providers.order
        )
        return JSONResponse(status_code=200 if configured else 503, content=body.model_dump())

    @app.get("/metrics", include_in_schema=False)
    async def prometheus() -> Response:
        """Prometheus exposition: requests, provider and page-fetch timings (no queries, no keys)."""
        return Response(metrics.exposition(), media_type=None, headers={"Content-Type": CONTENT_TYPE})

    return app
