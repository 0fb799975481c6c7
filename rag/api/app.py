"""The REST service's app factory: one router per resource, the access table, limits and middleware.

Routes live in ``rag.api.routes`` (``ask``, ``openai_compat``, ``kbs``, ``admin``); who may call each
is ``rag.api.access``'s table; errors become HTTP answers in ``rag.api.error_handlers``.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
from fastapi import Depends, FastAPI
from fastapi.middleware.cors import CORSMiddleware

from rag.api.access import access_table, check_table_covers
from rag.api.auth import Authenticator
from rag.api.body_limit import BodySizeLimit
from rag.api.deps import check_body_type, guard_route
from rag.api.error_handlers import document_error_responses, error_response, install_error_handlers
from rag.api.jobs import JobManager
from rag.api.ratelimit import RateLimiter
from rag.api.routes import admin, ask, documents, kbs, openai_compat, workspace
from rag.components import Components, build_components
from rag.metrics import ObservabilityMiddleware, RagMetrics
from rag.settings import RagSettings, get_settings
from rag.warmup import warm_up
from servicekit.request_ids import REQUEST_ID_HEADER, install_record_factory

log = logging.getLogger(__name__)


def create_app(settings: RagSettings | None = None, components: Components | None = None) -> FastAPI:
    """Build the app; backends are built in the lifespan unless ``components`` is given (tests).

    Authentication is decided here, so a configuration that cannot work fails at start-up.
    """
    settings = settings or (components.settings if components else get_settings())
    install_record_factory()
    app = FastAPI(
        title="askdocs",
        summary="Answers over your documents and the web, written by DeepSeek-R1 with citations.",
        version="0.1.0",
        lifespan=_lifespan(settings, components),
        dependencies=[Depends(guard_route), Depends(check_body_type)],
    )
    app.state.access = access_table(
        metrics_enabled=settings.metrics.enabled, metrics_require_admin=settings.metrics.require_admin
    )
    app.state.authenticator = Authenticator(settings.auth)
    app.state.limiter = RateLimiter(settings.rate_limit)
    app.state.metrics = RagMetrics()
    install_error_handlers(app)
    for router in (ask.router, openai_compat.router, kbs.router, documents.router, admin.router, workspace.router):
        app.include_router(router)
    if settings.metrics.enabled:
        app.include_router(admin.metrics_router)
    check_table_covers(app, app.state.access)
    document_error_responses(app, app.state.access)
    document_limits(app, settings)
    _add_middleware(app, settings)
    return app


def _lifespan(settings: RagSettings, given: Components | None) -> Any:
    """Build the backends off the event loop (or take the given ones), start the job manager; at the end,
    stop it and close the model."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        built = given if given is not None else await anyio.to_thread.run_sync(build_components, settings)
        if built.embedder_choice.is_fallback:
            log.warning(
                "EMBEDDING MODEL FALLBACK in use: %s (requested %s): %s",
                built.embedder.model_id,
                built.embedder_choice.requested,
                built.embedder_choice.fallback_reason,
            )
        if built.chat is None:
            log.warning("no language model configured (RAG_LLM__PROFILES): /ask answers in retrieval-only mode")
        if settings.api.warm_up_s > 0:
            kbs = await anyio.to_thread.run_sync(_kb_names, built)
            await anyio.to_thread.run_sync(warm_up, built.retriever, kbs, settings.api.warm_up_s)
        app.state.components = built
        metrics: RagMetrics = app.state.metrics
        breakers = getattr(built.chat, "breakers", None)
        if breakers:
            metrics.watch_breakers(breakers)
        jobs = app.state.jobs = await anyio.to_thread.run_sync(JobManager, built, metrics.ingest)
        app.state.authenticator.announce()
        try:
            yield
        finally:
            await anyio.to_thread.run_sync(jobs.close)
            close = getattr(built.chat, "aclose", None)
            if close is not None:
                await close()

    return lifespan


def _kb_names(components: Components) -> list[str]:
    try:
        return [info.name for info in components.store.list_kbs()]
    except Exception as exc:  # the store is down: /readyz says so; warm the rest
        log.warning("warm-up cannot list the knowledge bases: %s", exc)
        return []


def _add_middleware(app: FastAPI, settings: RagSettings) -> None:
    """Body limits, request ids and metrics, and CORS when origins are configured (the last added runs first)."""
    app.add_middleware(
        BodySizeLimit,
        max_bytes=settings.api.max_body_bytes,
        overrides=[(kbs.UPLOAD_PATH, settings.api.max_upload_bytes)],
    )
    app.add_middleware(ObservabilityMiddleware, metrics=app.state.metrics, routes_of=app)
    if settings.cors.allow_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors.allow_origins,
            allow_credentials=settings.cors.allow_credentials,
            allow_methods=["GET", "POST", "OPTIONS"],
            allow_headers=["Authorization", "Content-Type", REQUEST_ID_HEADER],
            expose_headers=[REQUEST_ID_HEADER, "Retry-After"],
            max_age=settings.cors.max_age_s,
        )


def document_limits(app: FastAPI, settings: RagSettings) -> None:
    """Put this deployment's limits into the published schema (question length, ``top_k``), so a
    client or a fuzzer can tell a request that will be refused from one that will not."""
    generate = app.openapi
    limits = {
        "question": {"minLength": 1, "maxLength": settings.api.max_question_chars, "pattern": r"\S"},
        "top_k": {"minimum": 1, "maximum": settings.retrieval.max_top_k},
    }

    def openapi() -> dict[str, Any]:
        document = generate()
        schemas = document.get("components", {}).get("schemas", {})
        for model in ("AskRequest", "ChatCompletionRequest"):
            properties = schemas.get(model, {}).get("properties", {})
            for name, bounds in limits.items():
                field = properties.get(name)
                if field is None:
                    continue
                typed = [part for part in field.get("anyOf", [field]) if part.get("type") in ("string", "integer")]
                for part in typed:
                    part.update(bounds)
        return document

    app.openapi = openapi  # type: ignore[method-assign]


def create_worker_app() -> FastAPI:
    """The app of one ``rag serve --workers N`` process. Each worker is a new interpreter, so what
    ``rag serve`` sets for its own process (logging, the encoder's threads) is set here again."""
    from ingest.embedders.cpu_threads import set_torch_threads
    from rag.logging_setup import configure_logging

    settings = get_settings()
    configure_logging(settings.log.level, json_lines=settings.log.json_lines)
    set_torch_threads(settings.embedding.threads or 1)
    return create_app(settings)


__all__ = ["create_app", "create_worker_app", "error_response"]
