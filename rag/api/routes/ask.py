"""``POST /ask``: a cited answer as JSON, or as Server-Sent Events."""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import asdict
from typing import Any

from fastapi import APIRouter, Request
from sse_starlette import EventSourceResponse
from starlette.background import BackgroundTask

from rag.api.deps import OrchestratorDep, PrincipalDep, answer_slot
from rag.api.error_handlers import stream_failure
from rag.api.ratelimit import StreamSlot
from rag.events import AskEvent, DoneEvent, SourcesEvent
from rag.types import AskRequest, AskResponse

SSE_RESPONSE: dict[str, Any] = {
    "description": "the answer as JSON, or as Server-Sent Events with `stream: true`: `sources`, "
    "`reasoning`, `answer`, `warning`, then `done` or `error`, each with a JSON object as its data",
    "content": {"text/event-stream": {"schema": {"type": "object"}}},
}

router = APIRouter(tags=["ask"])


@router.post("/ask", response_model=AskResponse, responses={200: SSE_RESPONSE})
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


def _event_payload(event: AskEvent) -> dict[str, str]:
    if isinstance(event, SourcesEvent):
        data: Any = {"sources": [s.model_dump() for s in event.sources]}
    elif isinstance(event, DoneEvent):
        data = event.response.model_dump(exclude={"sources"})
    else:
        data = {k: v for k, v in asdict(event).items() if k != "event"}
    return {"event": event.event, "data": json.dumps(data, ensure_ascii=False)}


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
