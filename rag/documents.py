"""What a knowledge base holds, document by document: the manifest's records with what the store
knows of their chunks, a chunk in its context, and a document's original bytes.

The source viewer needs these to show a cited passage where it stands. Everything is looked up
by the ids the API handed out (``doc_id``, ``chunk_id``) within one knowledge base: no path from a
request is ever opened, only a path the manifest recorded, and only while its content still has
the hash that was indexed.
"""

from __future__ import annotations

import hashlib
import mimetypes
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePath
from typing import Any

from ingest.errors import KnowledgeBaseNotFound, ParseError
from ingest.limits import FileLimits
from ingest.manifest import FileRecord, Manifest, Status
from ingest.object_store import is_object_uri, key_path, read_object
from ingest.rebuild import KbFiles
from ingest.stores.base import VectorStore
from ingest.types import Hit
from rag.errors import DocumentChanged, UnknownChunk, UnknownDocument, UnknownKnowledgeBase

LISTED: tuple[Status, ...] = ("indexed", "failed")  # writing/deleting are a job's passing states
MAX_CONTEXT = 10
# the browser must run these, and guesses for them differ between systems
MEDIA_TYPES = {".md": "text/markdown", ".csv": "text/csv", ".txt": "text/plain", ".html": "text/html"}


@dataclass(frozen=True, slots=True)
class OriginalFile:
    content: bytes
    media_type: str
    filename: str


def _pages(hits: list[Hit]) -> int | None:
    """The document's last cited page: paged formats only (PDF), else None."""
    numbers = [page for hit in hits for page in hit.pages]
    return max(numbers) if numbers else None


def _position(hit: Hit) -> int:
    return int(hit.metadata.get("chunk_index", 0) or 0)


def _chunk(hit: Hit) -> dict[str, Any]:
    return {
        "chunk_id": hit.chunk_id,
        "doc_id": hit.doc_id,
        "text": hit.text,
        "pages": list(hit.pages),
        "section": hit.section,
        "chunk_index": _position(hit),
    }


def _document(record: FileRecord, pages: int | None, uploads: Path) -> dict[str, Any]:
    """A manifest row as the API shows it; ``uploaded`` tells a file sent over the API (deleting
    it deletes the file) from one indexed from a server folder (which a re-index adds again)."""
    indexed = record.status == "indexed"
    return {
        "doc_id": record.doc_id,
        "name": Path(record.path).name,
        "source": record.path,
        "type": Path(record.path).suffix.lower().lstrip("."),
        "pages": pages,
        "chunks": len(record.chunk_ids) if indexed else 0,
        "indexed_at": datetime.fromtimestamp(record.updated_at, UTC).isoformat() if record.updated_at else None,
        "status": record.status,
        "reason": record.error,
        "size": record.size,
        "uploaded": Path(record.path).is_relative_to(uploads),
    }


class DocumentCatalog:
    """Read-only views of the knowledge bases under ``data_dir``."""

    def __init__(self, data_dir: Path, store: VectorStore) -> None:
        self.data_dir = data_dir
        self.store = store

    def _manifest(self, kb: str) -> Manifest | None:
        """The knowledge base's manifest; None when it was never indexed from files."""
        try:
            self.store.kb_info(kb)
        except KnowledgeBaseNotFound as exc:
            raise UnknownKnowledgeBase(kb) from exc
        path = KbFiles(self.data_dir, kb).manifest
        return Manifest(path) if path.exists() else None

    def _record(self, kb: str, doc_id: str) -> FileRecord:
        manifest = self._manifest(kb)
        if manifest is None:
            raise UnknownDocument(doc_id)
        with manifest:
            record = manifest.by_doc_id(doc_id)
        if record is None or record.status not in LISTED:
            raise UnknownDocument(doc_id)
        return record

    def _uploads(self, kb: str) -> Path:
        return (self.data_dir / "uploads" / kb).resolve()

    def _hits_by_doc(self, kb: str, records: list[FileRecord]) -> dict[str, list[Hit]]:
        ids = [chunk_id for r in records if r.status == "indexed" for chunk_id in r.chunk_ids]
        by_doc: dict[str, list[Hit]] = {}
        for hit in self.store.get(kb, ids) if ids else []:
            by_doc.setdefault(hit.doc_id, []).append(hit)
        return by_doc

    def list(self, kb: str, *, status: Status | None, offset: int, limit: int) -> dict[str, Any]:
        manifest = self._manifest(kb)
        records: list[FileRecord] = []
        total = 0
        if manifest is not None:
            with manifest:
                records, total = manifest.page((status,) if status else LISTED, offset, limit)
        hits = self._hits_by_doc(kb, records)
        documents = [_document(r, _pages(hits.get(r.doc_id, [])), self._uploads(kb)) for r in records]
        return {"documents": documents, "total": total, "offset": offset, "limit": limit}

    def get(self, kb: str, doc_id: str) -> dict[str, Any]:
        record = self._record(kb, doc_id)
        return _document(record, _pages(self._hits_by_doc(kb, [record]).get(doc_id, [])), self._uploads(kb))

    def original(self, kb: str, doc_id: str) -> OriginalFile:
        """The bytes that were indexed, or ``DocumentChanged``. Read once and hashed in memory
        (not with ``ingest.reindex.file_hash`` on the path), so the bytes sent are the bytes checked."""
        record = self._record(kb, doc_id)
        remote = is_object_uri(record.path)
        path: PurePath = key_path(record.path) if remote else Path(record.path)
        try:
            content = read_object(record.path, FileLimits()) if remote else Path(path).read_bytes()
        except (OSError, ParseError) as exc:
            raise DocumentChanged(path.name, "it is no longer where it was indexed from") from exc
        if hashlib.sha256(content).hexdigest() != record.content_hash:
            raise DocumentChanged(path.name, "it changed since it was indexed; re-index to see the new version")
        suffix = path.suffix.lower()
        media = MEDIA_TYPES.get(suffix) or mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        return OriginalFile(content, media, path.name)

    def chunk(self, kb: str, chunk_id: str, context: int) -> dict[str, Any]:
        """A chunk with up to ``context`` neighbours on each side, in document order."""
        manifest = self._manifest(kb)
        found = self.store.get(kb, [chunk_id])
        if not found:
            raise UnknownChunk(chunk_id)
        hit = found[0]
        record = None
        if manifest is not None:
            with manifest:
                record = manifest.by_doc_id(hit.doc_id)
        before: list[dict[str, Any]] = []
        after: list[dict[str, Any]] = []
        if record is not None and chunk_id in record.chunk_ids and context > 0:
            at = record.chunk_ids.index(chunk_id)
            window = record.chunk_ids[max(0, at - context) : at] + record.chunk_ids[at + 1 : at + 1 + context]
            neighbours = sorted(self.store.get(kb, window), key=_position)
            before = [_chunk(h) for h in neighbours if _position(h) < _position(hit)]
            after = [_chunk(h) for h in neighbours if _position(h) > _position(hit)]
        document = _document(record, _pages([hit]), self._uploads(kb)) if record is not None else None
        return {"chunk": _chunk(hit), "before": before, "after": after, "document": document}
