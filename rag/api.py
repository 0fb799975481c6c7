"""The REST service: ``POST /ask`` (JSON or Server-Sent Events), health, readiness, knowledge bases."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import asdict
from typing import Any

import anyio
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sse_starlette import EventSourceResponse

from rag.body_limit import BodySizeLimit
from rag.components import Components, build_components
from rag.deps import ComponentsDep, OrchestratorDep
from rag.errors_http import classify, error_payload, error_response, install_error_handlers
from rag.events import AskEvent, DoneEvent, SourcesEvent
from rag.settings import RagSettings, get_settings
from rag.types import AskRequest, AskResponse

log = logging.getLogger(__name__)

_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"description": "invalid question or options"},
    404: {"description": "unknown knowledge base"},
    409: {"description": "knowledge base built with another embedding model"},
    413: {"description": "request body too large"},
    422: {"description": "malformed request"},
    502: {"description": "the model endpoint answered badly"},
    503: {"description": "store, embedder or model unavailable"},
    504: {"description": "the model endpoint timed out"},
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
    """Build the app; backends are built in the lifespan unless ``components`` is given (tests)."""
    settings = settings or (components.settings if components else get_settings())

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
    )
    install_error_handlers(app)

    @app.post("/ask", response_model=AskResponse, responses=_RESPONSES)
    async def ask(body: AskRequest, request: Request, orchestrator: OrchestratorDep) -> Any:
        """Answer a question; ``stream: true`` or ``Accept: text/event-stream`` streams SSE."""
        wants_stream = body.stream or "text/event-stream" in request.headers.get("accept", "")
        if not wants_stream:
            return await orchestrator.ask(body)
        events = orchestrator.stream(body)
        # The first event (sources) is produced before the response starts, so that a bad
        # request or an unknown knowledge base is an HTTP error, not an event in a 200 stream.
        try:
            first = await anext(events)
        except BaseException:
            await events.aclose()
            raise
        return EventSourceResponse(_sse(first, events), ping=15, send_timeout=30)

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

    @app.get("/readyz", responses={503: {"description": "not ready"}})
    async def readyz(components: ComponentsDep) -> JSONResponse:
        """Ready when the store answers and the embedding model is loaded."""
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
        return JSONResponse({"ready": ready, "checks": checks}, status_code=200 if ready else 503)

    @app.get("/kbs")
    async def list_kbs(components: ComponentsDep) -> dict[str, Any]:
        """Knowledge bases with their embedding model and chunk count."""
        kbs = await anyio.to_thread.run_sync(components.store.list_kbs)
        return {"knowledge_bases": [asdict(kb) for kb in kbs]}

    app.add_middleware(BodySizeLimit, max_bytes=settings.api.max_body_bytes)
    return app


async def _sse(first: AskEvent, events: AsyncGenerator[AskEvent, None]) -> AsyncIterator[dict[str, str]]:
    """SSE frames; an error after the stream has started becomes an ``error`` event."""
    try:
        yield _event_payload(first)
        async for event in events:
            yield _event_payload(event)
    except Exception as exc:
        status, code = classify(exc)
        message = str(exc) if status != 500 else "internal server error"
        if status == 500:
            log.exception("answer stream failed")
        yield {"event": "error", "data": json.dumps(error_payload(code, message)["error"], ensure_ascii=False)}
    finally:
        await events.aclose()


__all__ = ["create_app", "error_response"]
