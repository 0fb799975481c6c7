"""The one place where errors become HTTP statuses.

Every error body has the OpenAI shape ``{"error": {"message", "type", "code"}}`` (plus
``details`` for validation problems), so the REST API and the OpenAI-compatible routes share
one format and OpenAI clients show the message. Never a traceback.
"""

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
from rag.auth import AuthConfigError, Forbidden, Unauthorized
from rag.errors import (
    BadRequest,
    LLMBadResponse,
    LLMError,
    LLMRateLimited,
    LLMTimeout,
    LLMUnavailable,
    NotFound,
    RagError,
    RetrievalError,
    UnknownKnowledgeBase,
    UnsupportedMediaType,
    WebSearchError,
)
from rag.ratelimit import TooManyRequests

log = logging.getLogger(__name__)


class ModelNotFound(RagError):
    """An OpenAI ``model`` that names no knowledge base this key may read (HTTP 404)."""

    code = "model_not_found"

    def __init__(self, model: str) -> None:
        super().__init__(f"The model {model!r} does not exist or you do not have access to it.")
        self.model = model


# None as code: the exception instance carries its own.
_STATUS: list[tuple[type[Exception], int, str | None]] = [
    (Unauthorized, 401, None),
    (Forbidden, 403, "permission_denied"),
    (TooManyRequests, 429, "rate_limit_exceeded"),
    (ModelNotFound, 404, "model_not_found"),
    (NotFound, 404, None),
    (UnsupportedMediaType, 415, "unsupported_media_type"),
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
    (AuthConfigError, 500, "auth_config_error"),
    (IngestError, 500, "ingest_error"),
    (RagError, 500, "rag_error"),
]

_TYPES = {401: "authentication_error", 403: "permission_error", 429: "rate_limit_error"}


def error_type(status: int) -> str:
    """OpenAI's ``type`` for a status: what its SDKs and chat clients key on."""
    return _TYPES.get(status, "invalid_request_error" if status < 500 else "server_error")


def classify(exc: BaseException) -> tuple[int, str]:
    """HTTP status and stable error code for an exception (500/internal_error when unknown)."""
    for kind, status, code in _STATUS:
        if isinstance(exc, kind):
            return status, code or str(getattr(exc, "code", "error"))
    return 500, "internal_error"


def error_payload(code: str, message: str, details: Any = None, *, status: int = 400) -> dict[str, Any]:
    body: dict[str, Any] = {"message": message, "type": error_type(status), "code": code}
    if details is not None:
        body["details"] = details
    return {"error": body}


def error_response(exc: BaseException) -> JSONResponse:
    status, code = classify(exc)
    message = str(exc) if status < 500 or isinstance(exc, RagError | IngestError) else "internal server error"
    headers: dict[str, str] = {}
    retry_after = getattr(exc, "retry_after", None) if isinstance(exc, LLMRateLimited | TooManyRequests) else None
    if retry_after:
        headers["Retry-After"] = str(max(1, int(round(retry_after))))
    if status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="askdocs"'
    if status >= 500:
        log.error("request failed: %s: %s", code, exc, exc_info=status == 500)
    return JSONResponse(error_payload(code, message, status=status), status_code=status, headers=headers)


def install_error_handlers(app: FastAPI) -> None:
    async def known(_: Request, exc: Exception) -> JSONResponse:
        return error_response(exc)

    async def invalid(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        problems = [
            {"field": ".".join(str(p) for p in err.get("loc", ()) if p != "body"), "message": err.get("msg", "")}
            for err in exc.errors()
        ]
        summary = "; ".join(f"{p['field'] or 'body'}: {p['message']}" for p in problems)
        # OpenAI answers malformed requests with 400 invalid_request_error, and its SDKs expect that.
        status = 400 if request.url.path.startswith("/v1/") else 422
        body = error_payload("invalid_request", summary, problems, status=status)
        if status == 400 and problems:
            body["error"]["param"] = problems[0]["field"] or None
        return JSONResponse(body, status_code=status)

    app.add_exception_handler(RagError, known)
    app.add_exception_handler(IngestError, known)
    app.add_exception_handler(RequestValidationError, invalid)
    app.add_exception_handler(Exception, known)
