"""FastAPI dependencies: the components built in the app's lifespan, and who is calling."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request

from rag import metrics
from rag.auth import Authenticator, Forbidden, Principal, Unauthorized
from rag.components import Components
from rag.orchestrator import Orchestrator
from rag.ratelimit import RateLimiter, StreamSlot, TooManyRequests
from rag.settings import RagSettings


def get_components(request: Request) -> Components:
    components: Components = request.app.state.components
    return components


def get_orchestrator(components: Annotated[Components, Depends(get_components)]) -> Orchestrator:
    return components.orchestrator


def get_app_settings(components: Annotated[Components, Depends(get_components)]) -> RagSettings:
    return components.settings


def get_limiter(request: Request) -> RateLimiter:
    limiter: RateLimiter = request.app.state.limiter
    return limiter


async def get_principal(request: Request) -> Principal:
    """Authenticate the caller and take one request from its rate limit (401 / 429 otherwise)."""
    authenticator: Authenticator = request.app.state.authenticator
    recorder = metrics.current()
    try:
        principal = authenticator.authenticate(request)
    except Unauthorized as exc:
        if recorder is not None:
            recorder.auth_failures.labels(exc.code).inc()
        raise
    request.scope.setdefault("askdocs", {})["key_name"] = principal.name
    try:
        get_limiter(request).hit(principal.rate_key, principal.requests_per_minute)
    except TooManyRequests as exc:
        if recorder is not None:
            recorder.rate_limited.labels(exc.limit).inc()
        raise
    return principal


def answer_slot(request: Request, principal: Principal) -> StreamSlot:
    """Count an answer in flight for the caller (429 over its limit); release it when the answer ends."""
    recorder = metrics.current()
    try:
        slot = get_limiter(request).acquire_stream(principal.rate_key, principal.concurrent_streams)
    except TooManyRequests as exc:
        if recorder is not None:
            recorder.rate_limited.labels(exc.limit).inc()
        raise
    if recorder is None:
        return slot
    recorder.streams_in_flight.inc()

    def release() -> None:
        slot.release()
        recorder.streams_in_flight.dec()

    return StreamSlot(release)


def require_scope(scope: str) -> object:
    """A dependency that lets only keys with ``scope`` (or admin) through (403 otherwise)."""

    async def check(principal: Annotated[Principal, Depends(get_principal)]) -> Principal:
        try:
            principal.require_scope(scope)
        except Forbidden:
            recorder = metrics.current()
            if recorder is not None:
                recorder.auth_failures.labels("missing_scope").inc()
            raise
        return principal

    return Depends(check)


def require_kb_scope(scope: str) -> Callable[..., Awaitable[Principal]]:
    """A dependency for routes on one knowledge base (``/kbs/{kb}/...``): the key must be able to
    read ``kb`` (404 otherwise, the answer an unknown knowledge base gets) and, unless ``scope`` is
    ``"read"``, hold ``scope`` (403). Callable directly as ``await check(request, kb=...)``."""

    async def check(request: Request, kb: str) -> Principal:
        principal = await get_principal(request)
        principal.check_read(kb)
        if scope != "read":
            try:
                principal.require_scope(scope)
            except Forbidden:
                recorder = metrics.current()
                if recorder is not None:
                    recorder.auth_failures.labels("missing_scope").inc()
                raise
        return principal

    check.accepts_kb = True  # type: ignore[attr-defined]  # rag.kb_routes calls it with a kb of its own
    return check


ComponentsDep = Annotated[Components, Depends(get_components)]
OrchestratorDep = Annotated[Orchestrator, Depends(get_orchestrator)]
SettingsDep = Annotated[RagSettings, Depends(get_app_settings)]
PrincipalDep = Annotated[Principal, Depends(get_principal)]
LimiterDep = Annotated[RateLimiter, Depends(get_limiter)]
AdminDep = Annotated[Principal, require_scope("admin")]
DeleteDep = Annotated[Principal, require_scope("delete")]
