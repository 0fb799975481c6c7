"""The HTTP surface: ``/search`` (GET and POST), ``/healthz``, ``/readyz`` and ``/metrics``.

Backends are built in ``lifespan`` so importing this module or calling ``create_app`` opens no
connection. Every error becomes a JSON ``{"error": {code, message}}`` body in the handlers below.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response

from search_proxy.cache import TTLCache
from search_proxy.chain import ProviderChain
from search_proxy.deps import ServiceDep, SettingsDep, require_key
from search_proxy.errors import AllProvidersFailed, SearchProxyError
from search_proxy.fetch.ssrf import Resolver
from search_proxy.logs import RedactSecrets
from search_proxy.metrics import (
    CONTENT_TYPE,
    ObservabilityMiddleware,
    ProxyMetrics,
    TimedPageFetcher,
    TimedProvider,
    install_record_factory,
)
from search_proxy.models import ErrorBody, ErrorResponse, SearchRequest, SearchResponse
from search_proxy.providers.factory import build_providers
from search_proxy.service import SearchService
from search_proxy.settings import Settings, get_settings
from search_proxy.upstream import build_provider_client, build_ssl_context

log = logging.getLogger("search_proxy.app")

_ERRORS: dict[int | str, dict[str, Any]] = {status: {"model": ErrorResponse} for status in (401, 422, 502, 503)}


def _error(status: int, code: str, message: str, warnings: list[str] | None = None) -> JSONResponse:
    body = ErrorResponse(error=ErrorBody(code=code, message=message, warnings=warnings or []))
    return JSONResponse(status_code=status, content=body.model_dump())


def describe_validation_error(err: dict[str, Any]) -> str:
    """``field: problem`` for one pydantic/FastAPI error, readable without knowing FastAPI's ``loc``."""
    loc = tuple(err.get("loc", ()))
    where = loc[0] if loc and loc[0] in ("query", "body") else "request"
    if err.get("type") == "json_invalid":
        return f"body: invalid JSON at position {loc[-1] if len(loc) > 1 else '?'}"
    parts = [str(part) for part in (loc[1:] if where != "request" else loc)]
    message = str(err.get("msg", "invalid")).removeprefix("Value error, ")
    if not parts and err.get("type") == "missing":
        message = "a JSON object is required"
    return f"{'.'.join(parts) or where}: {message}"


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

    @app.exception_handler(SearchProxyError)
    async def _proxy_error(_request: Request, exc: SearchProxyError) -> JSONResponse:
        warnings = exc.warnings if isinstance(exc, AllProvidersFailed) else None
        return _error(exc.status_code, exc.code, str(exc), warnings)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [describe_validation_error(err) for err in exc.errors()]
        return _error(422, "invalid_request", "; ".join(problems) or "invalid request")

    @app.exception_handler(Exception)
    async def _unexpected(_request: Request, exc: Exception) -> JSONResponse:
        log.error("unhandled error", exc_info=exc)
        return _error(500, "internal_error", "internal error")

    guarded = [Depends(require_key)]

    @app.get("/search", response_model=SearchResponse, dependencies=guarded, responses=_ERRORS)
    async def search_get(params: Annotated[SearchRequest, Query()], service: ServiceDep) -> SearchResponse:
        """Search the web through the provider chain; ``fetch`` adds page text."""
        return await service.search(params)

    @app.post("/search", response_model=SearchResponse, dependencies=guarded, responses=_ERRORS)
    async def search_post(body: SearchRequest, service: ServiceDep) -> SearchResponse:
        """Same as ``GET /search`` with a JSON body."""
        return await service.search(body)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        """Liveness: the process answers."""
        return {"status": "ok"}

    @app.get("/readyz", responses={503: {"description": "no provider configured"}})
    async def readyz(settings: SettingsDep) -> JSONResponse:
        """Readiness: which providers are configured, in chain order (no secrets)."""
        configured = settings.configured_providers()
        body = {
            "status": "ready" if configured else "no_provider",
            "providers": configured,
            "order": settings.providers.order,
        }
        return JSONResponse(status_code=200 if configured else 503, content=body)

    @app.get("/metrics", include_in_schema=False)
    async def prometheus() -> Response:
        """Prometheus exposition: requests, provider and page-fetch timings (no queries, no keys)."""
        return Response(metrics.exposition(), media_type=None, headers={"Content-Type": CONTENT_TYPE})

    return app
