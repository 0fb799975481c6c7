"""The REST service: ``POST /ask`` (JSON or Server-Sent Events), the OpenAI-compatible ``/v1`` routes,
health, readiness, knowledge bases and ``/metrics``; API keys, per-key limits, CORS and request ids."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import asdict
from typing import Any

import anyio
from fastapi import Depends, FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, Response
from sse_starlette import EventSourceResponse
from starlette.background import BackgroundTask

from rag.access import access_table, check_table_covers
from rag.auth import Authenticator, Principal, Unauthorized
from rag.body_limit import BodySizeLimit
from rag.components import Components, build_components
from rag.deps import ComponentsDep, OrchestratorDep, PrincipalDep, answer_slot, check_body_type, guard_route
from rag.errors_http import document_error_responses, error_response, install_error_handlers, stream_failure
from rag.events import AskEvent, DoneEvent, SourcesEvent
from rag.jobs import JobManager
from rag.kb_routes import UPLOAD_PATH
from rag.kb_routes import build_router as build_kb_router
from rag.logging_setup import REQUEST_ID_HEADER, install_record_factory
from rag.metrics import ObservabilityMiddleware, RagMetrics, exposition_headers
from rag.openai_compat import router as openai_router
from rag.ratelimit import RateLimiter, StreamSlot
from rag.settings import RagSettings, get_settings
from rag.types import AskRequest, AskResponse

log = logging.getLogger(__name__)


SSE_RESPONSE: dict[str, Any] = {
    "description": "the answer as JSON, or as Server-Sent Events with `stream: true`: `sources`, "
    "`reasoning`, `answer`, `warning`, then `done` or `error`, each with a JSON object as its data",
    "content": {"text/event-stream": {"schema": {"type": "object"}}},
}


def _event_payload(event: AskEvent) -> dict[str, str]:
    if isinstance(event, SourcesEvent):
        data: Any = {"sources": [s.model_dump() for s in event.sources]}
    elif isinstance(event, DoneEvent):
        data = event.response.model_dump(exclude={"sources"})
    else:
        data = {k: v for k, v in asdict(event).items() if k != "event"}
    return {"event": event.event, "data": json.dumps(data, ensure_ascii=False)}


def create_app(settings: RagSettings | None = None, components: Components | None = None) -> FastAPI:
    """Build the app; backends are built in the lifespan unless ``components`` is given (tests).

    Authentication is decided here, so a configuration that cannot work fails at start-up.
    """
    settings = settings or (components.settings if components else get_settings())
    authenticator = Authenticator(settings.auth)
    metrics = RagMetrics()
    install_record_factory()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        built = components if components is not None else await anyio.to_thread.run_sync(build_components, settings)
        if built.embedder_choice.is_fallback:
            log.warning(
                "EMBEDDING MODEL FALLBACK in use: %s (requested %s): %s",
                built.embedder.model_id,
                built.embedder_choice.requested,
                built.embedder_choice.fallback_reason,
            )
        if built.chat is None:
            log.warning("no language model configured (RAG_LLM__PROFILES): /ask answers in retrieval-only mode")
        app.state.components = built
        breakers = getattr(built.chat, "breakers", None)
        if breakers:
            metrics.watch_breakers(breakers)
        app.state.jobs = JobManager(built, metrics.ingest)
        authenticator.announce()
        try:
            yield
        finally:
            close = getattr(built.chat, "aclose", None)
            if close is not None:
                await close()

    app = FastAPI(
        title="askdocs",
        summary="Answers over your documents and the web, written by DeepSeek-R1 with citations.",
        version="0.1.0",
        lifespan=lifespan,
        dependencies=[Depends(guard_route), Depends(check_body_type)],
    )
    app.state.access = access_table(
        metrics_enabled=settings.metrics.enabled, metrics_require_admin=settings.metrics.require_admin
    )
    app.state.authenticator = authenticator
    app.state.limiter = RateLimiter(settings.rate_limit)
    app.state.metrics = metrics
    install_error_handlers(app)
    app.include_router(openai_router)
    app.include_router(build_kb_router())

    @app.post("/ask", response_model=AskResponse, responses={200: SSE_RESPONSE})
    async def ask(body: AskRequest, request: Request, orchestrator: OrchestratorDep, principal: PrincipalDep) -> Any:
        """Answer a question; ``stream: true`` or ``Accept: text/event-stream`` streams SSE."""
        principal.check_read(body.kb)
        wants_stream = body.stream or "text/event-stream" in request.headers.get("accept", "")
        slot = answer_slot(request, principal)
        if not wants_stream:
            try:
                return await orchestrator.ask(body)
            finally:
                slot.release()
        events = orchestrator.stream(body)
        # The first event (sources) is produced before the response starts, so that a bad
        # request or an unknown knowledge base is an HTTP error, not an event in a 200 stream.
        try:
            first = await anext(events)
        except BaseException:
            await events.aclose()
            slot.release()
            raise
        # The generator releases the slot when it ends; the background task covers a stream never started.
        release = BackgroundTask(slot.release)
        return EventSourceResponse(_sse(first, events, slot), ping=15, send_timeout=30, background=release)

    @app.get("/healthz")
    async def healthz(components: ComponentsDep) -> dict[str, Any]:
        """Liveness, and which embedding model is really in use."""
        embedding = components.embedding_status()
        body: dict[str, Any] = {"status": "ok", "embedding": embedding}
        if embedding["fallback"]:
            body["warning"] = (
                f"EMBEDDING MODEL FALLBACK: {embedding['requested']} could not be loaded; using {embedding['model']}"
            )
        return body

    @app.get("/readyz", responses={503: {"description": "not ready: the store does not answer"}})
    async def readyz(request: Request, components: ComponentsDep) -> JSONResponse:
        """Ready when the store answers; the details only for admin keys (probes need no key)."""
        checks: dict[str, Any] = {"embedding": components.embedding_status()}
        ready = True
        try:
            kbs = await anyio.to_thread.run_sync(components.store.list_kbs)
            checks["store"] = {"ok": True, "backend": components.settings.store.backend, "knowledge_bases": len(kbs)}
        except Exception as exc:
            ready = False
            checks["store"] = {"ok": False, "backend": components.settings.store.backend, "error": str(exc)}
        describe = getattr(components.chat, "describe", None)
        checks["llm"] = describe() if describe else {"configured": False, "mode": "retrieval_only"}
        checks["web"] = {"configured": components.web is not None}
        status = 200 if ready else 503
        caller = _optional_principal(authenticator, request)
        if caller is None or not caller.is_admin:
            return JSONResponse({"ready": ready, "checks": {"store": {"ok": checks["store"]["ok"]}}}, status)
        return JSONResponse({"ready": ready, "checks": checks}, status_code=status)

    @app.get("/kbs")
    async def list_kbs(components: ComponentsDep, principal: PrincipalDep) -> dict[str, Any]:
        """The knowledge bases this key may read, with their embedding model and chunk count."""
        kbs = await anyio.to_thread.run_sync(components.store.list_kbs)
        return {"knowledge_bases": [asdict(kb) for kb in kbs if principal.can_read(kb.name)]}

    @app.get("/admin/keys")
    async def list_keys(_: PrincipalDep) -> dict[str, Any]:
        """Configured API keys by name with their scopes (never hashes): for operators."""
        records = authenticator.keys.records()
        return {
            "mode": authenticator.mode,
            "keys": [record.model_dump(exclude={"hash"}) for record in records],
        }

    if settings.metrics.enabled:

        @app.get("/metrics", include_in_schema=False)
        async def prometheus() -> Response:
            """Prometheus exposition of this app's registry."""
            return Response(metrics.exposition(), headers=exposition_headers())

    check_table_covers(app, app.state.access)
    document_error_responses(app, app.state.access)
    document_limits(app, settings)
    app.add_middleware(
        BodySizeLimit,
        max_bytes=settings.api.max_body_bytes,
        overrides=[(UPLOAD_PATH, settings.api.max_upload_bytes)],
    )
    app.add_middleware(ObservabilityMiddleware, metrics=metrics, routes_of=app)
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
    return app


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


def _optional_principal(authenticator: Authenticator, request: Request) -> Principal | None:
    try:
        return authenticator.authenticate(request)
    except Unauthorized:
        return None


async def _sse(
    first: AskEvent, events: AsyncGenerator[AskEvent, None], slot: StreamSlot
) -> AsyncIterator[dict[str, str]]:
    """SSE frames; an error after the stream has started becomes an ``error`` event."""
    try:
        yield _event_payload(first)
        async for event in events:
            yield _event_payload(event)
    except Exception as exc:
        payload = stream_failure(exc, "ask")
        yield {"event": "error", "data": json.dumps(payload, ensure_ascii=False)}
    finally:
        await events.aclose()
        slot.release()


__all__ = ["create_app", "error_response"]
