"""Incremental, resumable, crash-safe (re)indexing of folders into a knowledge base.

The manifest (``ingest.manifest``) says which version of each file is indexed. A job compares
the folders with it and acts on the difference: new files are indexed, changed files re-chunked
(their old chunks replaced), files gone from disk removed, unchanged files left alone (their
content hash is read only when size or mtime changed, or with ``verify``). Writes are ordered so
that a crash at any point is repaired by the next run (see ``reconcile``).
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ingest.chunk_sources import ChunkedFile, ChunkSource, LocalChunkSource
from ingest.chunking import Chunker, ChunkingConfig
from ingest.deletion_guard import check_deletions
from ingest.discovery import SkippedPath, check_roots, discover
from ingest.embedders.base import Embedder
from ingest.failpoints import failpoint
from ingest.limits import FileLimits
from ingest.loaders import document_id, parser_version
from ingest.manifest import FileRecord, Manifest
from ingest.object_store import ObjectFile, is_object_uri, object_hash
from ingest.progress import FileOutcome, ProgressListener, run_reported
from ingest.sinks import KbIndexSink
from ingest.stores.base import MetadataFilter, VectorStore
from ingest.writing import EMBED_WINDOW, PROGRESS_SLICE, ChunkedDocument, Vectors, embed_window, windows

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class DiskFile:
    path: str
    size: int
    mtime_ns: int


@dataclass(slots=True)
class Plan:
    """What a job will do; ``--dry-run`` prints it."""

    new: list[DiskFile] = field(default_factory=list)
    changed: list[DiskFile] = field(default_factory=list)
    deleted: list[FileRecord] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    failing: list[FileRecord] = field(default_factory=list)  # unchanged files that failed before
    skipped: list[SkippedPath] = field(default_factory=list)  # never indexed: unsupported, links out, ...
    empty_roots: list[tuple[str, int]] = field(default_factory=list)  # (empty root, files indexed from it)

    def to_index(self) -> list[DiskFile]:
        return self.new + self.changed


@dataclass(slots=True)
class ReindexReport:
    kb: str
    embedding_model: str
    plan: Plan
    indexed: list[FileOutcome] = field(default_factory=list)
    failed: list[FileOutcome] = field(default_factory=list)
    deleted: int = 0
    repaired: list[str] = field(default_factory=list)
    chunks_written: int = 0
    chunks_embedded: int = 0
    cache_hits: int = 0
    seconds: float = 0.0
    engine: str = "local"

    @property
    def ok(self) -> bool:
        return not self.failed and not self.plan.failing

    def summary(self) -> dict[str, object]:
        return {
            "kb": self.kb,
            "ok": self.ok,
            "status": "ok" if self.ok else "partial",
            "embedding_model": self.embedding_model,
            "new": len(self.plan.new),
            "changed": len(self.plan.changed),
            "deleted": self.deleted,
            "unchanged": len(self.plan.unchanged),
            "ignored": len(self.plan.skipped),
            "skipped": [{"path": s.path, "reason": s.reason} for s in self.plan.skipped],
            "indexed": len(self.indexed),
            "failed": [{"path": f.path, "reason": f.reason} for f in self.failed]
            + [{"path": r.path, "reason": r.error} for r in self.plan.failing],
            "repaired": self.repaired,
            "chunks_written": self.chunks_written,
            "chunks_embedded": self.chunks_embedded,
            "embedding_cache_hits": self.cache_hits,
            "engine": self.engine,
            "seconds": round(self.seconds, 3),
        }


def file_hash(path: str) -> str:
    """sha256 of a file's (or an object's) bytes; "" when it is gone."""
    if is_object_uri(path):
        return object_hash(path)
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    except FileNotFoundError:
        return ""
    return digest.hexdigest()


def _keep(plan: Plan, record: FileRecord) -> None:
    """An unchanged file: left alone, but a file that failed before still counts as failing."""
    if record.status == "failed":
        plan.failing.append(record)
    else:
        plan.unchanged.append(record.path)


def _under(path: str, roots: Sequence[str]) -> bool:
    return any(path == root or path.startswith(root.rstrip(os.sep) + os.sep) for root in roots)


class ReindexJob:
    """One knowledge base, one embedder, one store, one manifest. Not thread-safe; hold ``KbLock``."""

    def __init__(
        self,
        kb: str,
        embedder: Embedder,
        store: VectorStore,
        manifest: Manifest,
        *,
        chunking: ChunkingConfig | None = None,
        workers: int | None = None,
        embed_batch: int = EMBED_WINDOW,
        sinks: Sequence[KbIndexSink] = (),
        collection: str | None = None,
        max_delete_share: float = 0.5,
        limits: FileLimits | None = None,
        source: ChunkSource | None = None,
        embed_slice: int = PROGRESS_SLICE,
        engine: str = "local",
    ) -> None:
        self.kb = kb
        self.max_delete_share = max_delete_share
        self.limits = limits or FileLimits()
        # Where chunks are written; differs from ``kb`` while a full rebuild fills a staging copy.
        # Document and chunk ids always derive from ``kb`` so the copy can take its place as is.
        self.collection = collection or kb
        self.embedder = embedder
        self.store = store
        self.manifest = manifest
        self.chunker = Chunker(embedder.count_tokens, chunking, max_tokens=embedder.max_input_tokens)
        # Parsing and chunking: worker processes here (``workers``), or a cluster's tasks.
        self.source = source or LocalChunkSource(workers)
        self.embed_batch = embed_batch
        self.embed_slice = embed_slice  # texts per embedder call: one encoder batch per embedding worker
        self.engine = engine
        self.sinks = list(sinks)

    # -- repair ----------------------------------------------------------------------------
    def reconcile(self) -> list[str]:
        """Finish or undo what a crashed job left half done; return what was repaired."""
        repaired: list[str] = []
        for record in self.manifest.with_status("writing", "deleting"):
            self._remove_document(record.doc_id)
            self.manifest.remove(record.path)
            repaired.append(f"{record.status} {record.path}")
        if self.store.count(self.collection) != self.manifest.indexed_chunk_count():
            known = self.manifest.known_doc_ids()
            orphans = {str(hit.metadata.get("doc_id")) for hit, _ in self.store.export(self.collection)} - known
            for doc_id in sorted(orphans):
                self._remove_document(doc_id)
                repaired.append(f"orphan document {doc_id}")
        repaired.extend(self._reconcile_sinks())
        if repaired:
            log.warning("repaired after an interrupted job: %s", "; ".join(repaired))
        return repaired

    def _reconcile_sinks(self) -> list[str]:
        """Rebuild a sink that disagrees with the store (a knowledge base indexed before the sink
        existed, or one whose sink files were lost) from the store's chunks; no re-embedding."""
        repaired = []
        expected = self.store.count(self.collection)
        for sink in self.sinks:
            if sink.count(self.collection) == expected:
                continue
            sink.drop_kb(self.collection)
            sink.ensure_kb(self.collection)
            added = sink.backfill(self.collection, (hit for hit, _ in self.store.export(self.collection)))
            repaired.append(f"rebuilt {type(sink).__name__} of {self.collection!r} from the store ({added} chunks)")
        return repaired

    def _remove_document(self, doc_id: str) -> None:
        self.store.delete(self.collection, where=MetadataFilter({"doc_id": doc_id}))
        for sink in self.sinks:
            sink.replace_document(self.collection, doc_id, [])

    def delete_documents(self, *, doc_id: str | None = None, source: str | None = None) -> list[FileRecord]:
        """Remove documents by id or by source path, store and manifest alike; returns what was removed."""
        matches = [
            r
            for r in self.manifest.all()
            if (doc_id is not None and r.doc_id == doc_id) or (source is not None and r.path == source)
        ]
        for record in matches:
            self.manifest.set_status(record.path, "deleting")
            self._remove_document(record.doc_id)
            self.manifest.remove(record.path)
        return matches

    # -- plan ------------------------------------------------------------------------------
    def plan(self, roots: Iterable[str | Path], *, verify: bool = False, delete_missing: bool = True) -> Plan:
        """What a job over ``roots`` would do; ``RootUnavailable`` when a root is missing or unreadable."""
        roots = list(roots)
        found = discover(roots)
        root_list = found.roots
        plan = Plan(skipped=found.skipped)
        on_disk: set[str] = set()
        for disk in self._listed(found.files, found.objects):
            path = disk.path
            on_disk.add(path)
            record = self.manifest.get(path)
            if record is None:
                plan.new.append(disk)
            elif record.parser_version != parser_version(path):
                plan.changed.append(disk)  # parsed by an older parser: parse again (embeddings are cached)
            elif not verify and (record.size, record.mtime_ns) == (disk.size, disk.mtime_ns):
                _keep(plan, record)
            elif file_hash(path) == record.content_hash and record.embedding_model == self.embedder.model_id:
                self.manifest.touch(path, disk.size, disk.mtime_ns)
                _keep(plan, record)
            else:
                plan.changed.append(disk)
        if delete_missing:
            records = list(self.manifest.all())
            plan.deleted = [
                r
                for r in records
                if _under(r.path, root_list) and r.path not in on_disk and not _under(r.path, found.unreadable)
            ]
            plan.empty_roots = [(root, sum(_under(r.path, [root]) for r in records)) for root in found.empty_roots]
        return plan

    @staticmethod
    def _listed(files: list[Path], objects: list[ObjectFile]) -> Iterator[DiskFile]:
        for file in files:
            try:
                stat = file.stat()
            except OSError:
                continue  # gone since it was listed: handled as deleted
            yield DiskFile(str(file), stat.st_size, stat.st_mtime_ns)
        for item in objects:
            yield DiskFile(item.path, item.size, item.mtime_ns)

    def check_deletions(self, plan: Plan, *, allow_mass_delete: bool = False) -> None:
        """Raise ``MassDeleteRefused`` when ``plan`` would delete too much (see ``ingest.deletion_guard``)."""
        check_deletions(
            self.kb,
            deleting=len(plan.deleted),
            known=self.manifest.count(),
            empty_roots=plan.empty_roots,
            max_share=self.max_delete_share,
            allow=allow_mass_delete,
        )

    # -- run -------------------------------------------------------------------------------
    def run(
        self,
        roots: Iterable[str | Path],
        *,
        verify: bool = False,
        delete_missing: bool = True,
        allow_mass_delete: bool = False,
        progress: ProgressListener | None = None,
    ) -> ReindexReport:
        """Bring the knowledge base in line with ``roots``.

        Raises ``RootUnavailable`` (a root is missing or unreadable) or ``MassDeleteRefused``
        (see ``check_deletions``) before anything is deleted or written.
        """
        listener = progress or ProgressListener()
        return run_reported(
            listener, lambda: self._run(list(roots), verify, delete_missing, allow_mass_delete, listener)
        )

    def _run(
        self,
        roots: list[str | Path],
        verify: bool,
        delete_missing: bool,
        allow_mass_delete: bool,
        progress: ProgressListener,
    ) -> ReindexReport:
        resolved = check_roots(roots)  # before anything is created or repaired
        self.manifest.remember_folders(r for r in resolved if os.path.isdir(r))
        self.store.ensure_kb(self.collection, self.embedder.model_id, self.embedder.dimension)
        for sink in self.sinks:
            sink.ensure_kb(self.collection)
        repaired = self.reconcile()
        plan = self.plan(roots, verify=verify, delete_missing=delete_missing)
        self.check_deletions(plan, allow_mass_delete=allow_mass_delete)
        report = ReindexReport(
            kb=self.kb, embedding_model=self.embedder.model_id, plan=plan, repaired=repaired, engine=self.engine
        )
        progress.files_found(len(plan.to_index()))
        for record in plan.deleted:
            self.manifest.set_status(record.path, "deleting")
            failpoint("after_delete_marker")
            self._remove_document(record.doc_id)
            self.manifest.remove(record.path)
            report.deleted += 1
        files = {f.path: f for f in plan.to_index()}
        chunked = self.source.chunk_files(list(files), self.kb, self.chunker, self.limits)
        for window in windows(self._chunked(chunked, files, report, progress), self.embed_batch):
            for complete, vectors in embed_window(self.embedder, window, progress, self.embed_slice):
                self._write_documents(complete, vectors, files, report, progress)
            report.chunks_embedded += sum(len(item.chunks) for item in window)
        hits = getattr(self.embedder, "hits", None)
        report.cache_hits = int(hits) if isinstance(hits, int) else 0
        return report

    def _chunked(
        self,
        chunked: Iterator[ChunkedFile],
        files: dict[str, DiskFile],
        report: ReindexReport,
        progress: ProgressListener,
    ) -> Iterator[ChunkedDocument]:
        for result in chunked:
            failpoint("after_parse")
            if result.chunked is None:
                self._record_failure(files[result.path], result.reason or "unreadable", report, progress)
            else:
                yield result.chunked

    def _record_failure(self, disk: DiskFile, reason: str, report: ReindexReport, progress: ProgressListener) -> None:
        outcome = FileOutcome(disk.path, "skipped", reason=reason)
        report.failed.append(outcome)
        progress.file_done(outcome)
        previous = self.manifest.get(disk.path)
        if previous is not None and previous.status == "indexed":
            return  # keep the last good version searchable; the failure is reported every run until fixed
        self.manifest.put(
            FileRecord(
                path=disk.path,
                size=disk.size,
                mtime_ns=disk.mtime_ns,
                content_hash=file_hash(disk.path),
                doc_id=document_id(self.kb, disk.path),
                status="failed",
                parser_version=parser_version(disk.path),
                embedding_model=self.embedder.model_id,
                error=reason,
            )
        )

    def _write_documents(
        self,
        batch: list[ChunkedDocument],
        vectors: Vectors,
        files: dict[str, DiskFile],
        report: ReindexReport,
        progress: ProgressListener,
    ) -> None:
        # Writes are batched (one store upsert per embedded slice) and ordered for crash safety:
        # every document of the batch is marked "writing" first, so a crash anywhere below leaves
        # markers that ``reconcile`` turns back into a clean state before the next run.
        records: list[FileRecord] = []
        replaced: list[str] = []
        for item in batch:
            doc, chunks = item.document, item.chunks
            disk = files[doc.source]
            if self.manifest.get(doc.source) is not None:
                replaced.append(doc.doc_id)  # a new file has no chunks to remove
            record = FileRecord(
                path=doc.source,
                size=disk.size,
                mtime_ns=disk.mtime_ns,
                content_hash=doc.content_hash,
                doc_id=doc.doc_id,
                status="writing",
                chunk_ids=[c.chunk_id for c in chunks],
                parser_version=parser_version(doc.source),
                embedding_model=self.embedder.model_id,
            )
            self.manifest.put(record)  # committed before the store changes: a crash leaves this marker
            failpoint("after_writing_marker")
            records.append(record)
        for doc_id in replaced:
            self.store.delete(self.collection, where=MetadataFilter({"doc_id": doc_id}))
        all_chunks = [c for item in batch for c in item.chunks]
        self.store.upsert(self.collection, all_chunks, [vectors[c.text] for c in all_chunks])
        for item, record in zip(batch, records, strict=True):
            doc, chunks = item.document, item.chunks
            for sink in self.sinks:
                sink.replace_document(self.collection, doc.doc_id, chunks)
            failpoint("after_store_write")
            record.status = "indexed"
            self.manifest.put(record)
            report.chunks_written += len(chunks)
            outcome = FileOutcome(doc.source, "indexed", chunks=len(chunks))
            report.indexed.append(outcome)
            progress.file_done(outcome)
