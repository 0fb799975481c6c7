"""Who may call which route: one table of (method, route, access), enforced for every route.

Each route of the app has exactly one entry. ``create_app`` refuses to build an app with a route
that is missing from the table, and the table is enforced by one app-wide dependency, so a new
route cannot be added unguarded and no route's guard depends on how it was declared. A test walks
the table with no key, a wrong key, a key without the scope and a key for another knowledge base.

Levels:

* ``public``: no key (probes, the schema and its docs);
* ``key``: any valid key (listings, filtered to what the key may read);
* ``read``: a key that may read the knowledge base the request names;
* ``ingest``, ``delete``, ``admin``: that scope as well (admin implies the others).

Where the knowledge base is named (``kb``): ``path`` (``/kbs/{kb}``: checked here), ``job`` (the
job's knowledge base: checked here), ``body`` or ``model`` (checked by the route once the body is
parsed, with the same rule). A knowledge base the key may not read answers exactly like one that
does not exist.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from fastapi import FastAPI, Request
from fastapi.routing import iter_route_contexts

from rag.api.auth import Principal
from rag.errors import Forbidden, UnknownJob

Level = Literal["public", "key", "read", "ingest", "delete", "admin"]
KbFrom = Literal["path", "job", "body", "model"]
SCOPED_LEVELS: tuple[Level, ...] = ("ingest", "delete", "admin")


@dataclass(frozen=True, slots=True)
class Access:
    level: Level
    kb: KbFrom | None = None


def access_table(*, metrics_enabled: bool = True, metrics_require_admin: bool = False) -> dict[tuple[str, str], Access]:
    """Every route of the app. ``/metrics`` needs an admin key only when so configured."""
    table = {
        ("GET", "/healthz"): Access("public"),
        ("GET", "/readyz"): Access("public"),  # details only for admin keys, decided by the route
        ("GET", "/metrics"): Access("admin" if metrics_require_admin else "public"),
        ("GET", "/openapi.json"): Access("public"),
        ("GET", "/docs"): Access("public"),
        ("GET", "/docs/oauth2-redirect"): Access("public"),
        ("GET", "/redoc"): Access("public"),
        ("GET", "/"): Access("public"),  # the workspace: its data comes through the routes below
        ("GET", "/assets/{path:path}"): Access("public"),
        ("POST", "/ask"): Access("read", kb="body"),
        ("GET", "/kbs"): Access("key"),
        ("GET", "/kbs/{kb}"): Access("read", kb="path"),
        ("POST", "/kbs/{kb}/documents"): Access("ingest", kb="path"),
        ("GET", "/kbs/{kb}/documents"): Access("read", kb="path"),
        ("GET", "/kbs/{kb}/documents/{doc_id}"): Access("read", kb="path"),
        ("GET", "/kbs/{kb}/documents/{doc_id}/file"): Access("read", kb="path"),
        ("GET", "/kbs/{kb}/chunks/{chunk_id}"): Access("read", kb="path"),
        ("DELETE", "/kbs/{kb}/documents"): Access("delete", kb="path"),
        ("POST", "/kbs/{kb}/jobs"): Access("ingest", kb="path"),
        ("GET", "/jobs/{job_id}"): Access("read", kb="job"),
        ("GET", "/admin/keys"): Access("admin"),
        ("GET", "/v1/models"): Access("key"),
        ("GET", "/v1/models/{model}"): Access("read", kb="model"),
        ("POST", "/v1/chat/completions"): Access("read", kb="model"),
    }
    if not metrics_enabled:
        del table[("GET", "/metrics")]
    return table


def served_routes(app: FastAPI) -> set[tuple[str, str]]:
    """The (method, path template) pairs the app answers, included routers too; HEAD goes with GET."""
    served: set[tuple[str, str]] = set()
    for context in iter_route_contexts(app.routes):
        path, methods = context.path, context.methods
        if path is None or not methods:
            raise RuntimeError(f"a route the access table cannot describe: {context!r}")
        served.update((method, path) for method in methods if method != "HEAD")
    return served


def check_table_covers(app: FastAPI, table: dict[tuple[str, str], Access]) -> None:
    """Refuse to build an app that has a route the table does not name (or names a route it lacks)."""
    served = served_routes(app)
    unguarded = sorted(served - table.keys())
    if unguarded:
        raise RuntimeError(f"routes without an entry in rag.api.access.access_table: {unguarded}")
    stale = sorted(table.keys() - served)
    if stale:
        raise RuntimeError(f"rag.api.access.access_table names routes the app does not serve: {stale}")


def access_for(request: Request) -> Access | None:
    table: dict[tuple[str, str], Access] = request.app.state.access
    path = getattr(request.scope.get("route"), "path", None)
    method = "GET" if request.method == "HEAD" else request.method
    return table.get((method, str(path)))


def enforce(request: Request, principal: Principal, access: Access) -> None:
    """The checks this module can make before the route runs (path and job knowledge bases, scope)."""
    if access.kb == "path":
        principal.check_read(str(request.path_params.get("kb", "")))
    elif access.kb == "job":
        job_id = str(request.path_params.get("job_id", ""))
        job = request.app.state.jobs.get(job_id)
        if job is None or not principal.can_read(job.kb):
            raise UnknownJob(job_id)
        request.state.job = job  # the route answers with it: one read of the job store, not two
    if access.level in SCOPED_LEVELS:
        principal.require_scope(access.level)


def describe(table: dict[tuple[str, str], Access]) -> list[dict[str, Any]]:
    """The table as rows, for documentation and tests."""
    return [
        {"method": method, "route": route, "level": access.level, "kb": access.kb}
        for (method, route), access in sorted(table.items(), key=lambda item: (item[0][1], item[0][0]))
    ]


__all__ = ["Access", "Forbidden", "access_table", "check_table_covers", "enforce", "served_routes"]
