"""Requests, answers, sources and citations as the API and CLI show them."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class HistoryTurn(BaseModel):
    """An earlier turn; assistant turns carry the answer only, never reasoning (it is removed)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    role: Literal["user", "assistant"]
    content: str


class AskRequest(BaseModel):
    """``POST /ask``. Unknown fields are refused, so a misspelt option is an error, not ignored.

    A history longer than the limits (``RAG_API__MAX_HISTORY_TURNS``, ``__MAX_HISTORY_CHARS``)
    loses its oldest turns, with a warning, as on ``/v1/chat/completions``. Types are strict
    (``"web": 0`` is not ``false``), as the schema says."""

    model_config = ConfigDict(extra="forbid", strict=True)

    question: str = Field(..., description="the question, in any language")
    kb: str = Field(..., description="knowledge base to answer from")
    top_k: int | None = Field(None, description="passages to retrieve (default from settings)")
    stream: bool = False
    include_reasoning: bool = True
    history: list[HistoryTurn] = Field(default_factory=list)
    web: bool | Literal["auto"] = False


class Source(BaseModel):
    """A numbered passage given to the model; ``id`` is the N of ``[citation:N]``."""

    id: int
    origin: Literal["kb", "web"] = "kb"
    title: str
    uri: str
    snippet: str
    score: float | None = None
    doc_id: str | None = None
    chunk_id: str | None = None
    pages: list[int] = Field(default_factory=list)
    section: str | None = None
    site: str | None = None
    published_at: str | None = None


class Citation(BaseModel):
    """A source the answer cites, with how often."""

    source_id: int
    title: str
    uri: str
    origin: Literal["kb", "web"] = "kb"
    count: int = 1


class UsageInfo(BaseModel):
    prompt_tokens: int = 0
    completion_tokens: int = 0
    reasoning_tokens: int = 0


class Timings(BaseModel):
    retrieval_ms: float = 0.0
    web_ms: float | None = None
    llm_ttft_ms: float | None = None
    total_ms: float = 0.0


class AskResponse(BaseModel):
    answer: str
    reasoning: str | None = None
    sources: list[Source]
    citations: list[Citation]
    model: str | None = None
    mode: Literal["llm", "retrieval_only"] = "llm"
    notice: str | None = None
    usage: UsageInfo = UsageInfo()
    timings: Timings = Timings()
    warnings: list[str] = Field(default_factory=list)


class ErrorBody(BaseModel):
    """OpenAI's error shape: what its SDKs and chat clients read."""

    message: str = Field(..., description="a sentence saying what went wrong and what to do")
    type: str = Field(..., description="invalid_request_error, authentication_error, permission_error, ...")
    code: str = Field(..., description="stable machine-readable code, e.g. unknown_knowledge_base")
    details: Any | None = Field(None, description="for validation errors: the fields and their problems")
    param: str | None = Field(None, description="on /v1: the first field at fault")


class ErrorResponse(BaseModel):
    """Every error from every route: ``{"error": {"message", "type", "code"}}``."""

    error: ErrorBody
