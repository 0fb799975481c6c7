"""The one place where errors become HTTP statuses."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from ingest.errors import (
    EmbeddingError,
    EmbeddingModelMismatch,
    IngestError,
    InvalidKnowledgeBaseName,
    KnowledgeBaseNotFound,
    VectorIndexError,
)
from rag.errors import (
    BadRequest,
    LLMBadResponse,
    LLMError,
    LLMRateLimited,
    LLMTimeout,
    LLMUnavailable,
    RagError,
    RetrievalError,
    UnknownKnowledgeBase,
    WebSearchError,
)

log = logging.getLogger(__name__)

_STATUS: list[tuple[type[Exception], int, str]] = [
    (BadRequest, 400, "bad_request"),
    (InvalidKnowledgeBaseName, 400, "invalid_knowledge_base_name"),
    (UnknownKnowledgeBase, 404, "unknown_knowledge_base"),
    (KnowledgeBaseNotFound, 404, "unknown_knowledge_base"),
    (EmbeddingModelMismatch, 409, "embedding_model_mismatch"),
    (LLMRateLimited, 503, "llm_rate_limited"),
    (LLMTimeout, 504, "llm_timeout"),
    (LLMUnavailable, 503, "llm_unavailable"),
    (LLMBadResponse, 502, "llm_bad_response"),
    (LLMError, 502, "llm_error"),
    (RetrievalError, 503, "retrieval_failed"),
    (WebSearchError, 502, "web_search_failed"),
    (VectorIndexError, 503, "vector_store_unavailable"),
    (EmbeddingError, 503, "embedding_unavailable"),
    (IngestError, 500, "ingest_error"),
    (RagError, 500, "rag_error"),
]


def classify(exc: BaseException) -> tuple[int, str]:
    """HTTP status and stable error code for an exception (500/internal_error when unknown)."""
    for kind, status, code in _STATUS:
        if isinstance(exc, kind):
            return status, code
    return 500, "internal_error"


def error_payload(code: str, message: str, details: Any = None) -> dict[str, Any]:
    body: dict[str, Any] = {"code": code, "message": message}
    if details is not None:
        body["details"] = details
    return {"error": body}


def error_response(exc: BaseException) -> JSONResponse:
    status, code = classify(exc)
    message = str(exc) if status < 500 or isinstance(exc, RagError | IngestError) else "internal server error"
    headers = {}
    if isinstance(exc, LLMRateLimited) and exc.retry_after:
        headers["Retry-After"] = str(max(1, int(round(exc.retry_after))))
    if status >= 500:
        log.error("request failed: %s: %s", code, exc, exc_info=status == 500)
    return JSONResponse(error_payload(code, message), status_code=status, headers=headers)


def install_error_handlers(app: FastAPI) -> None:
    async def known(_: Request, exc: Exception) -> JSONResponse:
        return error_response(exc)

    async def invalid(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        problems = [
            {"field": ".".join(str(p) for p in err.get("loc", ()) if p != "body"), "message": err.get("msg", "")}
            for err in exc.errors()
        ]
        summary = "; ".join(f"{p['field'] or 'body'}: {p['message']}" for p in problems)
        return JSONResponse(error_payload("invalid_request", summary, problems), status_code=422)

    app.add_exception_handler(RagError, known)
    app.add_exception_handler(IngestError, known)
    app.add_exception_handler(RequestValidationError, invalid)
    app.add_exception_handler(Exception, known)
