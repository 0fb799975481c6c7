"""OpenAI-compatible chat over the orchestrator: ``POST /v1/chat/completions``, ``GET /v1/models``.

Each knowledge base is a model, ``kb:<name>``; ``kb:<name>+web`` (or the extra body parameter
``web``) adds web search. The last user message is the question, earlier user and assistant
turns are the history (system prompts are dropped: R1 takes its instructions in the user turn,
from the project's prompt templates). Reasoning streams as ``reasoning_content`` in the delta,
the field DeepSeek's own API and its clients use. Citations ``[citation:N]`` become markdown
footnote references ``[^N]`` with the definitions appended, so plain chat clients (Cherry
Studio, ChatBox, Open WebUI) show the sources; the structured ``sources`` and ``citations``
ride on the last chunk (and on the non-streamed completion) as extension fields.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Literal

import anyio
from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.background import BackgroundTask

from rag.api.deps import ComponentsDep, OrchestratorDep, PrincipalDep, answer_slot
from rag.api.error_handlers import stream_failure
from rag.api.ratelimit import StreamSlot
from rag.citations import CitationRewriter, as_footnote
from rag.errors import BadRequest, ModelNotFound, UnknownKnowledgeBase
from rag.events import AnswerEvent, AskEvent, DoneEvent, ReasoningEvent, SourcesEvent, WarningEvent
from rag.types import AskRequest, AskResponse, HistoryTurn, Source

MODEL_PREFIX = "kb:"
WEB_SUFFIX = "+web"
_MODEL = re.compile(r"^kb:(?P<kb>[^+\s]+)(?P<web>\+web)?$")
_FOOTNOTE_DEFINITION = re.compile(r"^\[\^\d+\]:.*$\n?", re.MULTILINE)

router = APIRouter(prefix="/v1", tags=["openai-compatible"])


class MessageIn(BaseModel):
    """A chat message; content may be a string or a list of parts (only text parts are read)."""

    model_config = ConfigDict(extra="allow")

    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[dict[str, Any]] | None = None

    def text(self) -> str:
        if self.content is None or isinstance(self.content, str):
            return self.content or ""
        return "\n".join(str(p.get("text", "")) for p in self.content if p.get("type") in ("text", "input_text"))


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="allow")

    include_usage: bool = False


class ChatCompletionRequest(BaseModel):
    """OpenAI's request body. Sampling parameters are accepted and ignored: R1 runs as DeepSeek
    recommends (temperature 0.6). ``web``, ``top_k`` and ``include_reasoning`` are extensions."""

    model_config = ConfigDict(extra="allow")

    model: str = Field(..., description="kb:<knowledge base>, or kb:<knowledge base>+web")
    messages: list[MessageIn] = Field(..., min_length=1)
    stream: bool = False
    stream_options: StreamOptions | None = None
    web: bool | Literal["auto"] | None = Field(None, description="web search; overrides the +web suffix")
    top_k: int | None = Field(None, description="passages to retrieve")
    include_reasoning: bool = Field(True, description="send reasoning_content")


def parse_model(model: str) -> tuple[str, bool]:
    """``kb:handbook+web`` → ``("handbook", True)``; anything else is an unknown model."""
    match = _MODEL.match(model.strip())
    if match is None:
        raise ModelNotFound(model)
    return match.group("kb"), match.group("web") is not None


def clean_history(text: str) -> str:
    """An earlier answer without the footnote definitions this API appended (its reasoning is
    removed with every history's, by ``Orchestrator.fit_history``)."""
    return _FOOTNOTE_DEFINITION.sub("", text).strip()


def to_ask_request(body: ChatCompletionRequest, kb: str, web: bool) -> AskRequest:
    """The chat turns as an ``AskRequest``; the orchestrator fits the history to the limits, as for ``/ask``."""
    last = body.messages[-1]
    if last.role != "user":
        raise BadRequest("the last message must be the user's question")
    turns: list[HistoryTurn] = []
    for message in body.messages[:-1]:
        if message.role not in ("user", "assistant"):
            continue
        text = clean_history(message.text()) if message.role == "assistant" else message.text().strip()
        if text:
            turns.append(HistoryTurn(role=message.role, content=text))
    return AskRequest(
        question=last.text(),
        kb=kb,
        top_k=body.top_k,
        stream=body.stream,
        include_reasoning=body.include_reasoning,
        history=turns,
        web=body.web if body.web is not None else web,
    )


def source_label(source: Source) -> str:
    if source.origin == "web":
        return f"[{source.title}]({source.uri})"
    where = f", p. {', '.join(str(p) for p in source.pages)}" if source.pages else ""
    return f"{source.title} — {source.uri}{where}"


def appendix(response: AskResponse) -> str:
    """Footnote definitions for the cited sources; in retrieval-only mode, the ranked passages."""
    by_id = {s.id: s for s in response.sources}
    if response.mode == "retrieval_only":
        lines = [response.notice or ""]
        for source in response.sources:
            snippet = " ".join(source.snippet.split())[:300]
            lines.append(f"{source.id}. {source_label(source)}\n   > {snippet}")
        return "\n\n".join(lines)
    cited = [by_id[c.source_id] for c in response.citations if c.source_id in by_id]
    definitions = [f"[^{source.id}]: {source_label(source)}" for source in cited]
    return "\n\n" + "\n".join(definitions) if definitions else ""


@dataclass
class _Completion:
    """What every chunk of one completion shares."""

    model: str
    include_usage: bool
    id: str = field(default_factory=lambda: f"chatcmpl-{uuid.uuid4().hex}")
    created: int = field(default_factory=lambda: int(time.time()))

    def chunk(self, delta: dict[str, Any], finish: str | None = None, **extra: Any) -> bytes:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        return self.frame({**self._head("chat.completion.chunk"), "choices": [choice], **extra})

    def _head(self, kind: str) -> dict[str, Any]:
        return {"id": self.id, "object": kind, "created": self.created, "model": self.model}

    @staticmethod
    def frame(payload: dict[str, Any]) -> bytes:
        return f"data: {json.dumps(payload, ensure_ascii=False)}\n\n".encode()

    def usage_chunk(self, response: AskResponse) -> bytes:
        return self.frame({**self._head("chat.completion.chunk"), "choices": [], "usage": usage(response)})

    def completion(self, response: AskResponse, content: str) -> dict[str, Any]:
        message = {"role": "assistant", "content": content, "reasoning_content": response.reasoning}
        return {
            **self._head("chat.completion"),
            "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": "stop"}],
            "usage": usage(response),
            **extensions(response),
        }


def usage(response: AskResponse) -> dict[str, Any]:
    u = response.usage
    return {
        "prompt_tokens": u.prompt_tokens,
        "completion_tokens": u.completion_tokens,
        "total_tokens": u.prompt_tokens + u.completion_tokens,
        "completion_tokens_details": {"reasoning_tokens": u.reasoning_tokens},
    }


def extensions(response: AskResponse) -> dict[str, Any]:
    """The fields OpenAI does not have: sources, citations, warnings, and how the answer was made."""
    return {
        "sources": [s.model_dump() for s in response.sources],
        "citations": [c.model_dump() for c in response.citations],
        "warnings": response.warnings,
        "askdocs": {
            "mode": response.mode,
            "llm": response.model,
            "notice": response.notice,
            "timings": response.timings.model_dump(),
        },
    }


async def _open(events: AsyncGenerator[AskEvent, None], model: str) -> AskEvent:
    """The first event (sources), so a bad request is an HTTP error rather than an event in a 200."""
    try:
        return await anext(events)
    except UnknownKnowledgeBase as exc:
        await events.aclose()
        raise ModelNotFound(model) from exc
    except BaseException:
        await events.aclose()
        raise


async def _chunks(
    first: AskEvent, events: AsyncGenerator[AskEvent, None], completion: _Completion, slot: StreamSlot
) -> AsyncIterator[bytes]:
    rewriter = CitationRewriter(render=as_footnote)
    try:
        yield completion.chunk({"role": "assistant", "content": ""})
        pending: AskEvent | None = first
        while True:
            event = pending if pending is not None else await anext(events, None)
            pending = None
            if event is None:
                break
            if isinstance(event, SourcesEvent):
                rewriter.known = {s.id for s in event.sources}
            elif isinstance(event, ReasoningEvent):
                yield completion.chunk({"reasoning_content": event.text})
            elif isinstance(event, AnswerEvent):
                text = rewriter.feed(event.text)
                if text:
                    yield completion.chunk({"content": text})
            elif isinstance(event, DoneEvent):
                tail = rewriter.flush() + appendix(event.response)
                if tail:
                    yield completion.chunk({"content": tail})
                yield completion.chunk({}, "stop", **extensions(event.response))
                if completion.include_usage:
                    yield completion.usage_chunk(event.response)
            elif isinstance(event, WarningEvent):
                continue  # all warnings are on the last chunk
        yield b"data: [DONE]\n\n"
    except Exception as exc:
        yield completion.frame({"error": stream_failure(exc, "openai")})
    finally:
        await events.aclose()
        slot.release()


@router.get("/models")
async def list_models(components: ComponentsDep, principal: PrincipalDep) -> dict[str, Any]:
    """The knowledge bases this key may read, as models (``kb:<name>``, and ``+web`` with a search proxy)."""
    kbs = await anyio.to_thread.run_sync(components.store.list_kbs)
    names = principal.visible(sorted(kb.name for kb in kbs))
    suffixes = ["", WEB_SUFFIX] if components.web is not None else [""]
    data = [
        {"id": f"{MODEL_PREFIX}{name}{suffix}", "object": "model", "created": 0, "owned_by": "askdocs"}
        for name in names
        for suffix in suffixes
    ]
    return {"object": "list", "data": data}


@router.get("/models/{model}")
async def get_model(model: str, components: ComponentsDep, principal: PrincipalDep) -> dict[str, Any]:
    """One model, if this key may use it."""
    listed = await list_models(components, principal)
    for entry in listed["data"]:
        if entry["id"] == model:
            return dict(entry)
    raise ModelNotFound(model)


@router.post(
    "/chat/completions",
    responses={
        200: {
            "description": "a chat completion, or chunks as Server-Sent Events with `stream: true` "
            "(JSON objects, then `[DONE]`)",
            "content": {"text/event-stream": {"schema": {}}},
        }
    },
)
async def chat_completions(
    body: ChatCompletionRequest,
    request: Request,
    orchestrator: OrchestratorDep,
    principal: PrincipalDep,
) -> Any:
    """An answer as an OpenAI chat completion, streamed (``stream: true``) or whole."""
    kb, web = parse_model(body.model)
    if not principal.can_read(kb):
        raise ModelNotFound(body.model)
    ask = to_ask_request(body, kb, web)
    include_usage = bool(body.stream_options and body.stream_options.include_usage)
    completion = _Completion(model=body.model, include_usage=include_usage)
    slot = answer_slot(request, principal)
    try:
        events = orchestrator.stream(ask)
        first = await _open(events, body.model)
    except BaseException:
        slot.release()
        raise
    if body.stream:
        return StreamingResponse(
            _chunks(first, events, completion, slot),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
            background=BackgroundTask(slot.release),  # in case the stream never starts
        )
    try:
        response = await _collect(first, events)
    finally:
        await events.aclose()
        slot.release()
    rewriter = CitationRewriter({s.id for s in response.sources}, as_footnote)
    content = rewriter.rewrite(response.answer) + appendix(response)
    return completion.completion(response, content.strip())


async def _collect(first: AskEvent, events: AsyncGenerator[AskEvent, None]) -> AskResponse:
    if isinstance(first, DoneEvent):
        return first.response
    async for event in events:
        if isinstance(event, DoneEvent):
            return event.response
    raise RuntimeError("answer stream ended without a result")  # pragma: no cover
