"""REST for what a knowledge base holds: its documents, a document's original, a chunk in context.

The workspace's source panel reads these to show a cited passage where it stands.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal
from urllib.parse import quote

import anyio
from fastapi import APIRouter, Query, Response

from rag.api.deps import ComponentsDep
from rag.components import Components
from rag.documents import MAX_CONTEXT, DocumentCatalog

router = APIRouter(tags=["documents"])
GONE: dict[int | str, dict[str, Any]] = {410: {"description": "the original moved or changed since it was indexed"}}


def _catalog(components: Components) -> DocumentCatalog:
    return DocumentCatalog(components.settings.data_dir, components.store)


@router.get("/kbs/{kb}/documents")
async def list_documents(
    kb: str,
    components: ComponentsDep,
    status: Literal["indexed", "failed"] | None = None,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> dict[str, Any]:
    """The knowledge base's documents by path, ``limit`` from ``offset``, optionally of one status."""
    catalog = _catalog(components)
    return await anyio.to_thread.run_sync(lambda: catalog.list(kb, status=status, offset=offset, limit=limit))


@router.get("/kbs/{kb}/documents/{doc_id}")
async def get_document(kb: str, doc_id: str, components: ComponentsDep) -> dict[str, Any]:
    """One document: name, type, pages, chunks, when it was indexed, its status and failure reason."""
    return await anyio.to_thread.run_sync(_catalog(components).get, kb, doc_id)


@router.get("/kbs/{kb}/documents/{doc_id}/file", responses=GONE)
async def get_document_file(kb: str, doc_id: str, components: ComponentsDep) -> Response:
    """The original bytes that were indexed (410 when the file moved or changed since)."""
    original = await anyio.to_thread.run_sync(_catalog(components).original, kb, doc_id)
    disposition = f"inline; filename*=UTF-8''{quote(original.filename)}"
    headers = {
        "Content-Disposition": disposition,
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": "private, no-cache",
        # an HTML document opened on its own must not run in the workspace's origin
        "Content-Security-Policy": "sandbox; default-src 'none'",
    }
    return Response(original.content, media_type=original.media_type, headers=headers)


@router.get("/kbs/{kb}/chunks/{chunk_id}")
async def get_chunk(
    kb: str, chunk_id: str, components: ComponentsDep, context: Annotated[int, Query(ge=0, le=MAX_CONTEXT)] = 2
) -> dict[str, Any]:
    """A chunk with ``context`` neighbours on each side and its document, for the source viewer."""
    return await anyio.to_thread.run_sync(_catalog(components).chunk, kb, chunk_id, context)
