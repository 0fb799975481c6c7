"""Files to searchable chunks: discover, parse, chunk, embed, write; one report for the batch."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Literal, Protocol

from ingest.chunking import Chunker, ChunkingConfig
from ingest.discovery import discover
from ingest.embedders.base import Embedder
from ingest.errors import ParseError
from ingest.limits import FileLimits
from ingest.loaders import load_file
from ingest.stores.base import MetadataFilter, VectorStore
from ingest.types import Chunk, Hit, ParsedDocument

log = logging.getLogger(__name__)

# Chunks embedded together. A window is sorted by token count before it is cut into batches, so a
# wider window pads less: on SciFact, 1,024 chunks pad to 1.02 times the real token count, 256 to
# 1.09.
EMBED_WINDOW = 1024
# A window is embedded in slices of one encoder batch, in sorted order (so padding is as for the
# whole window); progress is reported, and documents whose chunks are all embedded are written,
# after each slice: a window of BGE-M3 on a CPU takes many minutes.
PROGRESS_SLICE = 32


def embed_slices(embedder: Embedder, texts: list[str], progress: ProgressListener) -> Iterator[dict[str, list[float]]]:
    """Vectors of the distinct ``texts``, each embedded once, longest first, one slice at a time.

    The whole window is sorted by token count here, since the embedder can only sort what one
    call gives it; slicing the sorted list keeps its batches evenly padded while ``progress``
    hears of every slice, and the caller can write each document as soon as its last chunk is
    embedded. Duplicates are reported once all are embedded, so the counts add up.
    """
    unique = sorted(dict.fromkeys(texts), key=lambda text: -embedder.count_tokens(text))
    for start in range(0, len(unique), PROGRESS_SLICE):
        part = unique[start : start + PROGRESS_SLICE]
        vectors = dict(zip(part, embedder.embed_documents(part), strict=True))
        progress.chunks_embedded(len(part))
        yield vectors
    if len(texts) > len(unique):
        progress.chunks_embedded(len(texts) - len(unique))


def embed_window(embedder: Embedder, texts: list[str], progress: ProgressListener) -> dict[str, list[float]]:
    """Every vector of ``embed_slices``, for callers that write a window at once."""
    vectors: dict[str, list[float]] = {}
    for part in embed_slices(embedder, texts, progress):
        vectors.update(part)
    return vectors


Status = Literal["indexed", "skipped"]


@dataclass(frozen=True, slots=True)
class FileOutcome:
    path: str
    status: Status
    chunks: int = 0
    reason: str | None = None


@dataclass(slots=True)
class IngestReport:
    """What a batch did; ``skipped`` entries carry the reason a person can act on."""

    kb: str
    embedding_model: str
    files: list[FileOutcome] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def indexed(self) -> list[FileOutcome]:
        return [f for f in self.files if f.status == "indexed"]

    @property
    def skipped(self) -> list[FileOutcome]:
        return [f for f in self.files if f.status == "skipped"]

    @property
    def chunks(self) -> int:
        return sum(f.chunks for f in self.files)

    @property
    def chunks_per_second(self) -> float:
        return self.chunks / self.seconds if self.seconds > 0 else 0.0


class ProgressListener:
    """Receives progress as it happens; the CLI draws a bar from it. Methods do nothing by default."""

    def files_found(self, total: int) -> None:  # noqa: B027 - optional hook
        pass

    def file_done(self, outcome: FileOutcome) -> None:  # noqa: B027 - optional hook
        pass

    def chunks_embedded(self, count: int) -> None:  # noqa: B027 - optional hook
        pass

    def job_done(self, report: IngestReport) -> None:  # noqa: B027 - optional hook (metrics)
        pass

    def job_failed(self, error: BaseException, seconds: float) -> None:  # noqa: B027 - optional hook (metrics)
        pass


class ChunkSink(Protocol):
    """Another index kept in step with the vector store (e.g. a lexical index)."""

    def replace_document(self, kb: str, doc_id: str, chunks: list[Chunk]) -> None:
        """Make ``chunks`` the document's only chunks in this index."""
        ...


class KbIndexSink(ChunkSink, Protocol):
    """A ``ChunkSink`` that re-index jobs can also check against the store, rebuild from it,
    fill as a staging copy and swap in (``ingest.lexical.LexicalIndex`` is one)."""

    def count(self, kb: str) -> int: ...

    def drop_kb(self, kb: str) -> None: ...

    def ensure_kb(self, kb: str) -> None: ...

    def backfill(self, kb: str, hits: Iterable[Hit]) -> int: ...

    def replace_kb(self, kb: str, staging: str) -> None: ...

    def commit(self, kb: str | None = None) -> None:
        """Make what was written searchable now (end of a job), not on the first query."""
        ...


class Indexer:
    """Writes documents into a knowledge base with one embedder and one store.

    Chunks of several small files are embedded together so the encoder sees full batches,
    and identical chunk texts are embedded once. A document's old chunks are replaced only
    after its new ones are embedded, so a failure leaves the previous version searchable.
    """

    def __init__(
        self,
        embedder: Embedder,
        store: VectorStore,
        chunking: ChunkingConfig | None = None,
        *,
        embed_batch: int = EMBED_WINDOW,
        sinks: list[ChunkSink] | None = None,
        limits: FileLimits | None = None,
    ) -> None:
        self.embedder = embedder
        self.limits = limits or FileLimits()
        self.store = store
        self.sinks = list(sinks or [])
        self.chunker = Chunker(embedder.count_tokens, chunking, max_tokens=embedder.max_input_tokens)
        self.embed_batch = embed_batch

    def ingest_paths(
        self, paths: Iterable[str | Path], kb: str, progress: ProgressListener | None = None
    ) -> IngestReport:
        """Index files and folders (see ``ingest.discovery`` for what is left out, and why)."""
        found = discover(paths)
        progress = progress or ProgressListener()
        progress.files_found(len(found.files) + len(found.skipped))
        report = IngestReport(kb=kb, embedding_model=self.embedder.model_id)
        started = time.perf_counter()
        self.store.ensure_kb(kb, self.embedder.model_id, self.embedder.dimension)
        for skipped in found.skipped:
            self._record(report, progress, FileOutcome(skipped.path, "skipped", reason=skipped.reason))

        def parsed() -> Iterator[ParsedDocument]:
            for path in found.files:
                try:
                    yield load_file(path, kb, self.limits)
                except ParseError as exc:
                    log.warning("skipped %s: %s", exc.path, exc.reason)
                    self._record(report, progress, FileOutcome(exc.path, "skipped", reason=exc.reason))

        self._index_job(parsed(), kb, report, progress, started)
        return report

    def ingest_documents(
        self, docs: Iterable[ParsedDocument], kb: str, progress: ProgressListener | None = None
    ) -> IngestReport:
        """Index documents that were parsed elsewhere (uploads, evaluation corpora)."""
        progress = progress or ProgressListener()
        report = IngestReport(kb=kb, embedding_model=self.embedder.model_id)
        started = time.perf_counter()
        self.store.ensure_kb(kb, self.embedder.model_id, self.embedder.dimension)
        self._index_job(docs, kb, report, progress, started)
        return report

    def _index_job(
        self, docs: Iterable[ParsedDocument], kb: str, report: IngestReport, progress: ProgressListener, started: float
    ) -> None:
        """``_index`` with the job's outcome reported to the listener (for metrics)."""
        try:
            self._index(docs, kb, report, progress)
        except BaseException as exc:
            progress.job_failed(exc, time.perf_counter() - started)
            raise
        report.seconds = time.perf_counter() - started
        progress.job_done(report)

    @staticmethod
    def _record(report: IngestReport, progress: ProgressListener, outcome: FileOutcome) -> None:
        report.files.append(outcome)
        progress.file_done(outcome)

    def _index(self, docs: Iterable[ParsedDocument], kb: str, report: IngestReport, progress: ProgressListener) -> None:
        pending: list[tuple[ParsedDocument, list[Chunk]]] = []
        pending_chunks = 0
        for doc in docs:
            chunks = list(islice(self.chunker.iter_chunks(doc, kb), self.limits.max_chunks + 1))
            if len(chunks) > self.limits.max_chunks:
                self._record(report, progress, FileOutcome(doc.source, "skipped", reason=self.limits.too_many_chunks()))
                continue
            if not chunks:
                self._record(report, progress, FileOutcome(doc.source, "skipped", reason="no text to index"))
                continue
            pending.append((doc, chunks))
            pending_chunks += len(chunks)
            if pending_chunks >= self.embed_batch:
                self._flush(pending, kb, report, progress)
                pending, pending_chunks = [], 0
        if pending:
            self._flush(pending, kb, report, progress)

    def _flush(
        self,
        pending: list[tuple[ParsedDocument, list[Chunk]]],
        kb: str,
        report: IngestReport,
        progress: ProgressListener,
    ) -> None:
        vectors = embed_window(self.embedder, [c.text for _, chunks in pending for c in chunks], progress)
        for doc, chunks in pending:
            self.store.delete(kb, where=MetadataFilter({"doc_id": doc.doc_id}))
            self.store.upsert(kb, chunks, [vectors[c.text] for c in chunks])
            for sink in self.sinks:
                sink.replace_document(kb, doc.doc_id, chunks)
            self._record(report, progress, FileOutcome(doc.source, "indexed", chunks=len(chunks)))
