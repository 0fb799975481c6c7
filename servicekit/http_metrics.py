"""The HTTP middleware both services run: request id in and out, requests counted and timed by
route template and status, one access-log line per request (none for probes and scrapes)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from prometheus_client import Counter, Histogram
from starlette.datastructures import Headers, MutableHeaders
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from servicekit.request_ids import REQUEST_ID_HEADER, bind_request_id, reset_request_id

QUIET_ROUTES = frozenset({"/metrics", "/healthz", "/readyz"})


def route_template(app: Any, scope: Scope) -> str:
    """The matched route's path template (``/kbs/{kb}``), so label values stay bounded; ``app``'s
    routes are matched when the request ended before routing (a middleware answered it)."""
    path = getattr(scope.get("route"), "path", None)
    if isinstance(path, str):
        return path
    for candidate in getattr(app, "routes", []):
        match, _ = candidate.matches(scope)
        if match == Match.FULL:
            return str(getattr(candidate, "path", "unmatched"))
    return "unmatched"


class HttpObservability:
    """Request id, request metrics and the access log for one app.

    ``around`` wraps each request (the answering service makes its metrics current with it);
    ``on_error`` turns an exception that escaped before the response started into a response,
    so it too carries the request id and is counted; ``log_extra`` adds fields to the access log.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        requests: Counter,
        latency: Histogram,
        access_log: logging.Logger,
        routes_of: Any = None,
        around: Callable[[], AbstractContextManager[Any]] = nullcontext,
        on_error: Callable[[Exception], ASGIApp] | None = None,
        log_extra: Callable[[Scope], dict[str, Any]] | None = None,
    ) -> None:
        self.app = app
        self.requests = requests
        self.latency = latency
        self.access_log = access_log
        self.routes_of = routes_of
        self.around = around
        self.on_error = on_error
        self.log_extra = log_extra

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id, token = bind_request_id(Headers(scope=scope).get(REQUEST_ID_HEADER))
        started = time.perf_counter()
        status = 500
        response_started = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                status = int(message["status"])
                response_started = True
                MutableHeaders(scope=message)[REQUEST_ID_HEADER] = request_id
            await send(message)

        try:
            with self.around():
                try:
                    await self.app(scope, receive, send_with_id)
                except Exception as exc:
                    if response_started or self.on_error is None:
                        raise
                    self.access_log.error("unhandled error", exc_info=exc)
                    await self.on_error(exc)(scope, receive, send_with_id)
                finally:
                    self._record(scope, status, time.perf_counter() - started)
        finally:
            reset_request_id(token)

    def _record(self, scope: Scope, status: int, elapsed: float) -> None:
        route = route_template(self.routes_of, scope)
        method = str(scope.get("method", ""))
        self.requests.labels(route, method, str(status)).inc()
        self.latency.labels(route, method, str(status)).observe(elapsed)
        if route not in QUIET_ROUTES:
            extra = {"method": method, "route": route, "status": status, "duration_ms": round(elapsed * 1000, 1)}
            if self.log_extra is not None:
                extra |= self.log_extra(scope)
            self.access_log.info("request", extra=extra)
