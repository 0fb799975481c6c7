"""REST for knowledge bases: stats, uploads, document deletes, re-index jobs and their status."""

from __future__ import annotations

import re
import uuid
from dataclasses import asdict
from functools import partial
from pathlib import Path
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, File, Request, UploadFile
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from ingest.errors import KnowledgeBaseNotFound
from ingest.loaders import SUPPORTED_EXTENSIONS
from ingest.manifest import Manifest
from ingest.rebuild import KbFiles
from ingest.stores.naming import validate_kb_name
from rag.api.deps import ComponentsDep, JobsDep, PrincipalDep
from rag.api.jobs import JobManager, JobStatus
from rag.components import Components
from rag.errors import BadRequest, UnknownDocument, UnknownJob, UnknownKnowledgeBase

_UNSAFE = re.compile(r"[^\w.\-\u4e00-\u9fff]+")
UPLOAD_PATH = re.compile(r"^/kbs/[^/]+/documents$")  # the one route whose bodies may exceed the API limit


class ReindexRequest(BaseModel):
    paths: list[str] = Field(
        default_factory=list,
        description="folders on the server to mirror; default: the folders it was indexed from, and its uploads",
    )
    full: bool = Field(False, description="rebuild into a copy and switch over when complete")
    allow_mass_delete: bool = Field(
        False, description="delete even when a folder is empty or more than ingest.max_delete_share of the files went"
    )


def safe_filename(name: str) -> str:
    base = Path(name.replace("\\", "/")).name
    cleaned = _UNSAFE.sub("_", base).strip("._") or "upload"
    return cleaned[:150]


def kb_stats(components: Components, jobs: JobManager, kb: str) -> dict[str, Any]:
    """Documents (from the manifest), chunks and model (from the store), and the last job."""
    info = components.store.kb_info(kb)
    manifest_path = KbFiles(components.settings.data_dir, kb).manifest
    documents = failed = 0
    if manifest_path.exists():
        with Manifest(manifest_path) as manifest:
            for record in manifest.all():
                documents += record.status == "indexed"
                failed += record.status == "failed"
    last = jobs.last_for(kb)
    return {
        "name": kb,
        "embedding_model": info.embedding_model,
        "dimension": info.dimension,
        "chunks": info.count,
        "documents": documents,
        "failed_documents": failed,
        "last_job": last.to_dict() if last else None,
    }


# Who may call each route is decided by ``rag.api.access``'s table, for every route alike.
router = APIRouter(tags=["knowledge bases"])


@router.get("/kbs")
async def list_kbs(components: ComponentsDep, principal: PrincipalDep) -> dict[str, Any]:
    """The knowledge bases this key may read, with their embedding model and chunk count."""
    kbs = await anyio.to_thread.run_sync(components.store.list_kbs)
    return {"knowledge_bases": [asdict(kb) for kb in kbs if principal.can_read(kb.name)]}


@router.get("/kbs/{kb}")
async def get_kb(kb: str, components: ComponentsDep, jobs: JobsDep) -> dict[str, Any]:
    """One knowledge base with its statistics."""
    try:
        return await anyio.to_thread.run_sync(kb_stats, components, jobs, kb)
    except KnowledgeBaseNotFound as exc:
        raise UnknownKnowledgeBase(kb) from exc


@router.post("/kbs/{kb}/documents", status_code=202)
async def upload(
    kb: str,
    components: ComponentsDep,
    jobs: JobsDep,
    files: Annotated[list[UploadFile], File(description="documents to add or replace")],
) -> JSONResponse:
    """Upload documents (multipart); they are indexed by a background job whose id is returned."""
    validate_kb_name(kb)
    limit = components.settings.api.max_upload_bytes
    folder = components.settings.data_dir / "uploads" / kb
    saved: list[Path] = []
    for upload in files:
        name = safe_filename(upload.filename or "")
        if Path(name).suffix.lower() not in SUPPORTED_EXTENSIONS:
            raise BadRequest(f"{upload.filename!r}: unsupported file type; accepted: {sorted(SUPPORTED_EXTENSIONS)}")
        data = await upload.read(limit + 1)
        if len(data) > limit:
            raise BadRequest(f"{upload.filename!r} exceeds the upload limit of {limit} bytes")
        if not data:
            raise BadRequest(f"{upload.filename!r} is empty")
        target = folder / name
        await anyio.to_thread.run_sync(_write_atomically, target, data)
        saved.append(target)
    if not saved:
        raise BadRequest("no files in the upload")
    status = await anyio.to_thread.run_sync(partial(jobs.start, kb, saved, delete_missing=False, kind="upload"))
    return JSONResponse({"job": status.to_dict(), "files": [p.name for p in saved]}, status_code=202)


@router.delete("/kbs/{kb}/documents")
async def delete_documents(
    kb: str, jobs: JobsDep, doc_id: str | None = None, source: str | None = None
) -> dict[str, Any]:
    """Delete documents by ``doc_id`` or by ``source`` (the path shown in sources)."""
    if not doc_id and not source:
        raise BadRequest("give doc_id or source")

    def act(job: Any) -> list[str]:
        removed = job.delete_documents(doc_id=doc_id, source=source)
        for record in removed:
            path = Path(record.path)
            if "uploads" in path.parts:
                path.unlink(missing_ok=True)
        return [r.path for r in removed]

    removed = await anyio.to_thread.run_sync(jobs.run_locked, kb, act)
    if not removed:
        raise UnknownDocument(doc_id or source or "")
    return {"deleted": removed}


@router.post("/kbs/{kb}/jobs", status_code=202)
async def start_job(kb: str, body: ReindexRequest, components: ComponentsDep, jobs: JobsDep) -> JSONResponse:
    """Start a re-index job over server-side folders (or the uploads folder)."""
    validate_kb_name(kb)
    paths = [Path(p) for p in body.paths] or await anyio.to_thread.run_sync(default_roots, components, kb)
    if not paths:
        raise BadRequest(f"knowledge base {kb!r} has no folders or uploads to re-index from; give paths")
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise BadRequest(f"no such path on the server: {', '.join(missing)}")
    status = await anyio.to_thread.run_sync(
        partial(jobs.start, kb, paths, delete_missing=True, full=body.full, allow_mass_delete=body.allow_mass_delete)
    )
    return JSONResponse({"job": status.to_dict()}, status_code=202)


def default_roots(components: Components, kb: str) -> list[Path]:
    """What a re-index without paths mirrors: the folders jobs indexed the knowledge base from, and its uploads."""
    manifest_path = KbFiles(components.settings.data_dir, kb).manifest
    folders: list[Path] = []
    if manifest_path.exists():
        with Manifest(manifest_path) as manifest:
            folders = [Path(f) for f in manifest.folders()]
    uploads = components.settings.data_dir / "uploads" / kb
    if uploads.is_dir() and not any(uploads.resolve().is_relative_to(f) for f in folders):
        folders.append(uploads)
    return folders


@router.get("/jobs/{job_id}")
async def get_job(job_id: str, request: Request) -> dict[str, Any]:
    """A job's state, counts and errors (only for keys that may read its knowledge base): the
    access check has read it already (``rag.api.access.enforce``)."""
    status: JobStatus | None = getattr(request.state, "job", None)
    if status is None or status.id != job_id:
        raise UnknownJob(job_id)
    return status.to_dict()


def _write_atomically(target: Path, data: bytes) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex}.part")
    tmp.write_bytes(data)
    tmp.replace(target)
