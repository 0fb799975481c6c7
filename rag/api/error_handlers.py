"""The one place where errors become HTTP statuses.

Every error body has the OpenAI shape ``{"error": {"message", "type", "code"}}`` (plus
``details`` for validation problems), so the REST API and the OpenAI-compatible routes share
one format and OpenAI clients show the message. Never a traceback.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import iter_route_contexts
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import compile_path

from ingest.errors import (
    EmbeddingError,
    EmbeddingModelMismatch,
    IngestError,
    InvalidKnowledgeBaseName,
    KnowledgeBaseNotFound,
    VectorIndexError,
)
from rag.api.access import Access
from rag.errors import (
    AuthConfigError,
    BadRequest,
    Forbidden,
    Gone,
    LLMBadResponse,
    LLMError,
    LLMRateLimited,
    LLMTimeout,
    LLMUnavailable,
    ModelNotFound,
    NotFound,
    RagError,
    RetrievalError,
    TooManyRequests,
    Unauthorized,
    UnknownKnowledgeBase,
    UnsupportedMediaType,
    WebSearchError,
)
from rag.metrics import llm_error_kind
from rag.types import ErrorResponse

log = logging.getLogger(__name__)


# None as code: the exception instance carries its own.
_STATUS: list[tuple[type[Exception], int, str | None]] = [
    (Unauthorized, 401, None),
    (Forbidden, 403, "permission_denied"),
    (TooManyRequests, 429, "rate_limit_exceeded"),
    (ModelNotFound, 404, "model_not_found"),
    (NotFound, 404, None),
    (Gone, 410, None),
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
    retry_after = getattr(exc, "retry_after", None) if isinstance(exc, LLMError | TooManyRequests) else None
    if retry_after:
        headers["Retry-After"] = str(max(1, int(round(retry_after))))
    if status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="askdocs"'
    if status >= 500:
        log.error("request failed: %s: %s", code, exc, exc_info=status == 500)
    return JSONResponse(error_payload(code, message, status=status), status_code=status, headers=headers)


def stream_failure(exc: BaseException, api: str) -> dict[str, Any]:
    """The ``error`` payload for a failure after a stream has started (the status line is long
    sent), logged here, since no error response will be: with the request id (added to every
    record), the kind of failure and the LLM profile involved."""
    status, code = classify(exc)
    message = str(exc) if status != 500 else "internal server error"
    kind = llm_error_kind(exc) if isinstance(exc, LLMError) else code
    log.log(
        logging.ERROR if status >= 500 else logging.WARNING,
        "answer stream failed after it started: %s",
        message,
        exc_info=exc if status == 500 else None,
        extra={"api": api, "kind": kind, "code": code, "status": status, "profile": getattr(exc, "profile", None)},
    )
    payload: dict[str, Any] = error_payload(code, message, status=status)["error"]
    return payload


def describe_problem(err: dict[str, Any]) -> dict[str, Any]:
    """One validation problem as ``{field, message}`` in words a person reads without FastAPI's ``loc``."""
    loc = [str(p) for p in err.get("loc", ()) if p not in ("body", "query", "path")]
    field = ".".join(loc)
    kind = err.get("type", "")
    if kind == "extra_forbidden":
        message = "unknown field (not part of this request's schema)"
    elif kind == "missing":
        message = "required"
    elif kind in ("model_attributes_type", "dict_type", "model_type") and not field:
        message = "the body must be a JSON object"
    else:
        message = str(err.get("msg", "invalid")).removeprefix("Value error, ")
    return {"field": field, "message": message}


def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    errors = list(exc.errors())
    syntax = next((err for err in errors if err.get("type") == "json_invalid"), None)
    if syntax is not None:
        loc = syntax.get("loc", ())
        where = f" at position {loc[-1]}" if len(loc) > 1 else ""
        reason = (syntax.get("ctx") or {}).get("error", "")
        message = f"the request body is not valid JSON{where}" + (f": {reason}" if reason else "")
        return JSONResponse(error_payload("invalid_json", message, status=400), status_code=400)
    problems = [describe_problem(err) for err in errors]
    unknown = [p["field"] for p in problems if p["message"].startswith("unknown field")]
    parts = [f"{p['field'] or 'body'}: {p['message']}" for p in problems if p["field"] not in unknown]
    if unknown:
        parts.insert(0, f"unknown field{'s' if len(unknown) > 1 else ''}: {', '.join(unknown)}")
    summary = "; ".join(parts) or "invalid request"
    # OpenAI answers malformed requests with 400 invalid_request_error, and its SDKs expect that.
    status = 400 if request.url.path.startswith("/v1/") else 422
    body = error_payload("invalid_request", summary, problems, status=status)
    if status == 400 and problems:
        body["error"]["param"] = problems[0]["field"] or None
    return JSONResponse(body, status_code=status)


def allowed_methods(request: Request) -> list[str]:
    """Every method some route serves at this path: Starlette's 405 names only the first route's,
    though ``/kbs/{kb}/documents`` is two routes (POST and DELETE)."""
    methods: set[str] = set()
    for context in iter_route_contexts(request.app.routes):
        if context.path and context.methods and compile_path(context.path)[0].match(request.url.path):
            methods |= context.methods
    return sorted(methods)


def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    """Routing and body-parsing errors raised by Starlette and FastAPI themselves, in our shape."""
    status = exc.status_code
    headers = dict(exc.headers or {})
    if status == 404:
        code, message = "not_found", f"there is no route {request.url.path} (see /docs for the API)"
    elif status == 405:
        allowed = ", ".join(allowed_methods(request)) or headers.get("Allow", "")
        headers = {k: v for k, v in headers.items() if k.lower() != "allow"} | {"Allow": allowed}
        code = "method_not_allowed"
        message = f"{request.method} is not allowed on {request.url.path}" + (f"; use {allowed}" if allowed else "")
    elif isinstance(exc.__cause__, UnicodeDecodeError):
        code, message = "invalid_body", "the request body is not valid UTF-8 text, so it cannot be read as JSON"
    elif status == 400:
        code, message = "invalid_body", f"the request body could not be read: {exc.detail}"
    else:
        code, message = f"http_{status}", str(exc.detail)
    return JSONResponse(error_payload(code, message, status=status), status_code=status, headers=headers)


_ERROR_DESCRIPTIONS: dict[int, str] = {
    400: "a bad value, or a body that is not valid JSON or not UTF-8",
    401: "missing or invalid API key",
    403: "the key lacks the scope this route needs",
    404: "no such knowledge base, document, job or model for this key (an unreadable one answers the same)",
    409: "the knowledge base was built with another embedding model",
    413: "request body too large",
    415: "the body is not JSON (multipart/form-data for uploads)",
    422: "the request does not fit the schema (unknown fields included)",
    429: "per-key rate limit or answers in flight exceeded (see Retry-After)",
    502: "the model endpoint or search proxy answered badly",
    503: "the store, the embedder or every model profile is unavailable (see Retry-After when known)",
    504: "the model endpoint timed out",
}
_ANSWER_ROUTES = frozenset({("POST", "/ask"), ("POST", "/v1/chat/completions")})


def error_statuses(method: str, path: str, access: Access, *, has_body: bool, has_params: bool) -> list[int]:
    """The error statuses a route can answer, from what guards it and what it reads."""
    statuses: set[int] = set()
    if access.level != "public":
        statuses |= {401, 429}
    if access.level in ("ingest", "delete", "admin"):
        statuses.add(403)
    if access.kb is not None:
        statuses |= {400, 404}  # a knowledge-base name that is not valid is a 400
    invalid = 400 if path.startswith("/v1/") else 422  # a request that does not fit the schema
    if has_body:
        statuses |= {400, 413, 415, invalid}
    if has_params:
        statuses.add(invalid)
    if access.kb in ("path", "body", "model"):
        statuses |= {409, 503}  # the store, or the knowledge base's embedding model
    if (method, path) in _ANSWER_ROUTES:
        statuses |= {502, 503, 504}
    return sorted(statuses)


def document_error_responses(app: FastAPI, table: Mapping[tuple[str, str], Access]) -> None:
    """Declare in the OpenAPI schema every error status each route can answer, with its body.

    Done on the generated document, so every route is covered however it was declared, and
    FastAPI's default 422 (a ``{"detail": ...}`` body this service never sends) is replaced.
    """
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        document = generate()
        if document.get("x-askdocs-errors"):
            return document
        schemas = document.setdefault("components", {}).setdefault("schemas", {})
        error_schema = ErrorResponse.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(error_schema.pop("$defs", {}))
        schemas["ErrorResponse"] = error_schema
        schemas.pop("HTTPValidationError", None)
        schemas.pop("ValidationError", None)
        for path, operations in document.get("paths", {}).items():
            for method, operation in operations.items():
                access = table.get((method.upper(), path))
                if access is None:
                    continue
                responses = operation.setdefault("responses", {})
                responses.pop("422", None)
                statuses = error_statuses(
                    method.upper(),
                    path,
                    access,
                    has_body="requestBody" in operation,
                    has_params=bool(operation.get("parameters")),
                )
                for status in statuses:
                    responses[str(status)] = {
                        "description": _ERROR_DESCRIPTIONS.get(status, "error"),
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorResponse"}}},
                    }
        document["x-askdocs-errors"] = True
        return document

    app.openapi = openapi  # type: ignore[method-assign]


def install_error_handlers(app: FastAPI) -> None:
    async def known(_: Request, exc: Exception) -> JSONResponse:
        return error_response(exc)

    async def invalid(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        return _validation_error(request, exc)

    async def http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        return _http_error(request, exc)

    app.add_exception_handler(RagError, known)
    app.add_exception_handler(IngestError, known)
    app.add_exception_handler(RequestValidationError, invalid)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(Exception, known)
