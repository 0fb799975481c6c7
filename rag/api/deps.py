"""FastAPI dependencies: the components built in the app's lifespan, and who is calling."""

from __future__ import annotations

import email.message
from typing import Annotated

import anyio
from fastapi import Depends, Request, params

from rag import metrics
from rag.api.access import access_for, enforce
from rag.api.auth import Authenticator, Principal
from rag.api.jobs import JobManager
from rag.api.ratelimit import RateLimiter, StreamSlot
from rag.components import Components
from rag.errors import Forbidden, TooManyRequests, Unauthorized, UnsupportedMediaType
from rag.orchestrator import Orchestrator
from rag.settings import RagSettings

# Every dependency is ``async``: FastAPI runs a plain ``def`` dependency on the thread pool, so each
# of these one-line look-ups cost a thread hop per request and, under load, a wait behind the
# questions being retrieved there (``/healthz`` took 390 ms at p99 with 64 clients streaming).


async def get_components(request: Request) -> Components:
    components: Components = request.app.state.components
    return components


async def get_orchestrator(components: Annotated[Components, Depends(get_components)]) -> Orchestrator:
    return components.orchestrator


async def get_app_settings(components: Annotated[Components, Depends(get_components)]) -> RagSettings:
    return components.settings


async def get_jobs(request: Request) -> JobManager:
    jobs: JobManager = request.app.state.jobs
    return jobs


def authenticator_of(request: Request) -> Authenticator:
    authenticator: Authenticator = request.app.state.authenticator
    return authenticator


def limiter_of(request: Request) -> RateLimiter:
    limiter: RateLimiter = request.app.state.limiter
    return limiter


async def get_authenticator(request: Request) -> Authenticator:
    return authenticator_of(request)


async def get_limiter(request: Request) -> RateLimiter:
    return limiter_of(request)


async def get_principal(request: Request) -> Principal:
    """Authenticate the caller and take one request from its rate limit (401 / 429 otherwise).

    Done once per request: the access guard and the route share the result.
    """
    cached: Principal | None = getattr(request.state, "principal", None)
    if cached is not None:
        return cached
    recorder = metrics.current()
    try:
        principal = authenticator_of(request).authenticate(request)
    except Unauthorized as exc:
        if recorder is not None:
            recorder.auth_failures.labels(exc.code).inc()
        raise
    request.scope.setdefault("askdocs", {})["key_name"] = principal.name
    try:
        limiter_of(request).hit(principal.rate_key, principal.requests_per_minute)
    except TooManyRequests as exc:
        if recorder is not None:
            recorder.rate_limited.labels(exc.limit).inc()
        raise
    request.state.principal = principal
    return principal


async def guard_route(request: Request) -> None:
    """The app-wide dependency that enforces ``rag.api.access``'s table for the matched route."""
    access = access_for(request)
    if access is None:  # create_app checks coverage, so only a route added later gets here
        raise Forbidden("this route has no access rule, so it is refused")
    if access.level == "public":
        return
    principal = await get_principal(request)
    try:
        if access.kb == "job":  # reads the job store (SQLite, shared by the workers): off the event loop
            await anyio.to_thread.run_sync(enforce, request, principal, access)
        else:
            enforce(request, principal, access)
    except Forbidden:
        recorder = metrics.current()
        if recorder is not None:
            recorder.auth_failures.labels("missing_scope").inc()
        raise


async def check_body_type(request: Request) -> None:
    """415 for a body sent as something the route does not read: JSON routes want
    ``application/json`` (FastAPI reads nothing else as JSON), the upload route ``multipart/form-data``."""
    body_field = getattr(request.scope.get("route"), "body_field", None)
    has_body = request.headers.get("content-length", "0") != "0" or "transfer-encoding" in request.headers
    if body_field is None or not has_body:
        return
    declared = request.headers.get("content-type")
    if isinstance(body_field.field_info, params.Form):
        if declared is None or not declared.lower().startswith("multipart/form-data"):
            raise UnsupportedMediaType(
                f"this route takes files as multipart/form-data, not {declared or 'a body without a content type'}"
            )
        return
    if declared is None:
        raise UnsupportedMediaType("send the body as JSON with 'Content-Type: application/json'")
    message = email.message.Message()
    message["content-type"] = declared
    subtype = message.get_content_subtype()
    if message.get_content_maintype() != "application" or not (subtype == "json" or subtype.endswith("+json")):
        raise UnsupportedMediaType(f"send the body as JSON with 'Content-Type: application/json', not {declared!r}")


def answer_slot(request: Request, principal: Principal) -> StreamSlot:
    """Count an answer in flight for the caller (429 over its limit); release it when the answer ends."""
    recorder = metrics.current()
    try:
        slot = limiter_of(request).acquire_stream(principal.rate_key, principal.concurrent_streams)
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


ComponentsDep = Annotated[Components, Depends(get_components)]
OrchestratorDep = Annotated[Orchestrator, Depends(get_orchestrator)]
SettingsDep = Annotated[RagSettings, Depends(get_app_settings)]
PrincipalDep = Annotated[Principal, Depends(get_principal)]
LimiterDep = Annotated[RateLimiter, Depends(get_limiter)]
JobsDep = Annotated[JobManager, Depends(get_jobs)]
AuthenticatorDep = Annotated[Authenticator, Depends(get_authenticator)]
