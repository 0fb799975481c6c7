"""FastAPI dependencies: settings, the service built in ``lifespan``, the shared secret, JSON bodies."""

from __future__ import annotations

import email.message
import hmac
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader

from search_proxy.errors import Unauthorized, UnsupportedMediaType
from search_proxy.service import SearchService
from search_proxy.settings import Settings

KEY_HEADER = "X-Search-Proxy-Key"
# Declared as a security scheme so the OpenAPI schema documents the header (and its 401).
API_KEY = APIKeyHeader(name=KEY_HEADER, auto_error=False, description="The shared secret (server.api_key).")


def get_app_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_service(request: Request) -> SearchService:
    service: SearchService = request.app.state.service
    return service


SettingsDep = Annotated[Settings, Depends(get_app_settings)]
ServiceDep = Annotated[SearchService, Depends(get_service)]


def require_key(settings: SettingsDep, given: Annotated[str | None, Security(API_KEY)] = None) -> None:
    """Callers must present the shared secret when one is configured (constant-time compare)."""
    expected = settings.server.api_key
    if expected is None:
        return
    if not hmac.compare_digest((given or "").encode("utf-8"), expected.get_secret_value().encode("utf-8")):
        raise Unauthorized(f"The {KEY_HEADER} header is missing or wrong.")


def require_json(request: Request) -> None:
    """A POST body must be declared JSON (``application/json`` or ``…+json``), else 415."""
    declared = request.headers.get("content-type")
    parsed = email.message.Message()
    parsed["content-type"] = declared or ""
    subtype = parsed.get_content_subtype()
    if declared and parsed.get_content_maintype() == "application" and (subtype == "json" or subtype.endswith("+json")):
        return
    got = parsed.get_content_type() if declared else "no Content-Type"
    raise UnsupportedMediaType(f"POST /search takes a JSON body (Content-Type: application/json), not {got}.")
