"""The one place where the search proxy's errors become HTTP responses.

Every error body has one shape, ``{"error": {"message", "type", "code", "warnings"}}``: ``type``
follows OpenAI's convention as the answering service does (authentication_error 401,
permission_error 403, rate_limit_error 429, invalid_request_error other 4xx, server_error 5xx),
``message`` is a sentence a person understands, ``warnings`` says what failed upstream. Routing
errors (404, 405), unreadable bodies (400) and validation errors (422) get that shape too,
never FastAPI's ``{"detail": …}``, never a traceback.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException

from search_proxy.errors import AllProvidersFailed, SearchProxyError
from search_proxy.models import FIELD_RULES, ErrorBody, ErrorResponse

log = logging.getLogger("search_proxy.app")

_TYPES = {401: "authentication_error", 403: "permission_error", 429: "rate_limit_error"}


def error_type(status: int) -> str:
    """OpenAI's ``type`` for a status: what its SDKs and chat clients key on."""
    return _TYPES.get(status, "invalid_request_error" if status < 500 else "server_error")


def error_response(
    status: int, code: str, message: str, warnings: list[str] | None = None, headers: dict[str, str] | None = None
) -> JSONResponse:
    body = ErrorResponse(error=ErrorBody(message=message, type=error_type(status), code=code, warnings=warnings or []))
    return JSONResponse(status_code=status, content=body.model_dump(), headers=headers)


def describe_validation_error(err: dict[str, Any]) -> str:
    """``field: problem`` for one pydantic/FastAPI error, readable without knowing FastAPI's ``loc``."""
    loc = tuple(err.get("loc", ()))
    where = loc[0] if loc and loc[0] in ("query", "body") else "request"
    parts = [str(part) for part in (loc[1:] if where != "request" else loc)]
    message = str(err.get("msg", "invalid")).removeprefix("Value error, ")
    if not parts and err.get("type") == "missing":
        message = "a JSON object is required"
    field = parts[0] if parts else ""
    if field in FIELD_RULES and err.get("type") not in ("missing", "extra_forbidden"):
        return f"{field}: {FIELD_RULES[field]}"  # also names a union's field once, not per member
    return f"{'.'.join(parts) or where}: {message}"


def describe_validation_errors(errors: list[dict[str, Any]]) -> str:
    problems = dict.fromkeys(describe_validation_error(err) for err in errors)
    return "; ".join(problems) or "invalid request"


def _invalid_json(err: dict[str, Any]) -> str:
    loc = tuple(err.get("loc", ()))
    position = f" at character {loc[-1]}" if len(loc) > 1 else ""
    reason = str((err.get("ctx") or {}).get("error", "malformed JSON"))
    return f"The request body is not valid JSON ({reason}{position})."


def _routes(app: Any) -> str:
    routes = [route for route in app.routes if isinstance(route, APIRoute)]
    return ", ".join(f"{'/'.join(sorted(route.methods or ()))} {route.path}" for route in routes)


def _methods(app: Any, path: str) -> list[str]:
    routes = [route for route in app.routes if isinstance(route, APIRoute) and route.path_regex.match(path)]
    return sorted({method for route in routes for method in route.methods or ()})


def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    path, method = request.url.path, request.method
    headers = dict(exc.headers or {})
    if exc.status_code == 404:
        message = f"There is no route {path}. The routes are: {_routes(request.app)}."
        return error_response(404, "not_found", message, headers=headers)
    if exc.status_code == 405:
        # Starlette names only the first route of the path; GET and POST /search are two routes.
        allowed = ", ".join(_methods(request.app, path)) or headers.get("allow", "")
        headers = {"Allow": allowed}
        return error_response(
            405, "method_not_allowed", f"{method} is not allowed on {path}; use {allowed}.", headers=headers
        )
    if exc.status_code == 400 and isinstance(exc.__cause__, UnicodeDecodeError):
        bad = exc.__cause__
        byte = bad.object[bad.start : bad.start + 1].hex()
        message = f"The request body is not valid UTF-8 (byte 0x{byte} at position {bad.start}); send UTF-8 JSON."
        return error_response(400, "invalid_body", message, headers=headers)
    if exc.status_code == 400:
        return error_response(400, "invalid_body", "The request body could not be read as JSON.", headers=headers)
    return error_response(exc.status_code, "http_error", str(exc.detail), headers=headers)


def install_error_handlers(app: FastAPI) -> None:
    async def proxy_error(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, SearchProxyError)
        warnings = exc.warnings if isinstance(exc, AllProvidersFailed) else None
        return error_response(exc.status_code, exc.code, str(exc), warnings)

    async def invalid(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        errors = list(exc.errors())
        broken = [err for err in errors if err.get("type") == "json_invalid"]
        if broken:
            return error_response(400, "invalid_json", _invalid_json(broken[0]))
        return error_response(422, "invalid_request", describe_validation_errors(errors))

    async def http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        return _http_error(request, exc)

    async def unexpected(_request: Request, exc: Exception) -> JSONResponse:
        log.error("unhandled error", exc_info=exc)
        return error_response(500, "internal_error", "The search proxy failed unexpectedly; see its log.")

    app.add_exception_handler(SearchProxyError, proxy_error)
    app.add_exception_handler(RequestValidationError, invalid)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(Exception, unexpected)
