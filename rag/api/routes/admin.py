"""Operations: liveness, readiness, the configured keys and the Prometheus exposition."""

from __future__ import annotations

from typing import Any

import anyio
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from rag.api.auth import Principal
from rag.api.deps import AuthenticatorDep, ComponentsDep, PrincipalDep, authenticator_of
from rag.errors import Unauthorized
from rag.metrics import RagMetrics, exposition_headers

router = APIRouter(tags=["admin"])
# Included only when metrics are enabled, so that a disabled exposition is a 404, not an empty page.
metrics_router = APIRouter(tags=["admin"])


@router.get("/healthz")
async def healthz(components: ComponentsDep) -> dict[str, Any]:
    """Liveness, and which embedding model is really in use."""
    embedding = components.embedding_status()
    body: dict[str, Any] = {"status": "ok", "embedding": embedding}
    if embedding["fallback"]:
        body["warning"] = (
            f"EMBEDDING MODEL FALLBACK: {embedding['requested']} could not be loaded; using {embedding['model']}"
        )
    return body


@router.get("/readyz", responses={503: {"description": "not ready: the store does not answer"}})
async def readyz(request: Request, components: ComponentsDep) -> JSONResponse:
    """Ready when the store answers; the details only for admin keys (probes need no key)."""
    checks: dict[str, Any] = {"embedding": components.embedding_status()}
    ready = True
    try:
        kbs = await anyio.to_thread.run_sync(components.store.list_kbs)
        checks["store"] = {"ok": True, "backend": components.settings.store.backend, "knowledge_bases": len(kbs)}
    except Exception as exc:
        ready = False
        checks["store"] = {"ok": False, "backend": components.settings.store.backend, "error": str(exc)}
    describe = getattr(components.chat, "describe", None)
    checks["llm"] = describe() if describe else {"configured": False, "mode": "retrieval_only"}
    checks["web"] = {"configured": components.web is not None}
    status = 200 if ready else 503
    caller = _optional_principal(request)
    if caller is None or not caller.is_admin:
        return JSONResponse({"ready": ready, "checks": {"store": {"ok": checks["store"]["ok"]}}}, status)
    return JSONResponse({"ready": ready, "checks": checks}, status_code=status)


@router.get("/admin/keys")
async def list_keys(_: PrincipalDep, authenticator: AuthenticatorDep) -> dict[str, Any]:
    """Configured API keys by name with their scopes (never hashes): for operators."""
    records = authenticator.keys.records()
    return {
        "mode": authenticator.mode,
        "keys": [record.model_dump(exclude={"hash"}) for record in records],
    }


@metrics_router.get("/metrics", include_in_schema=False)
async def prometheus(request: Request) -> Response:
    """Prometheus exposition of this app's registry."""
    metrics: RagMetrics = request.app.state.metrics
    return Response(metrics.exposition(), headers=exposition_headers())


def _optional_principal(request: Request) -> Principal | None:
    """The caller if its key is valid, else ``None``: readiness answers anyone, in less detail."""
    try:
        return authenticator_of(request).authenticate(request)
    except Unauthorized:
        return None
