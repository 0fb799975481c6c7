"""FastAPI dependencies: settings, the service built in ``lifespan``, and the shared-secret check."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Request

from search_proxy.errors import Unauthorized
from search_proxy.service import SearchService
from search_proxy.settings import Settings

KEY_HEADER = "X-Search-Proxy-Key"


def get_app_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_service(request: Request) -> SearchService:
    service: SearchService = request.app.state.service
    return service


SettingsDep = Annotated[Settings, Depends(get_app_settings)]
ServiceDep = Annotated[SearchService, Depends(get_service)]


def require_key(request: Request, settings: SettingsDep) -> None:
    """Callers must present the shared secret when one is configured (constant-time compare)."""
    expected = settings.server.api_key
    if expected is None:
        return
    given = request.headers.get(KEY_HEADER, "")
    if not hmac.compare_digest(given.encode("utf-8"), expected.get_secret_value().encode("utf-8")):
        raise Unauthorized(f"missing or invalid {KEY_HEADER} header")
