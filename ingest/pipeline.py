"""Documents parsed elsewhere (uploads, evaluation corpora) to searchable chunks, one report for
the batch. Files on disk go through ``ingest.reindex`` (manifest, crash safety); both write
through ``ingest.writing``."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from ingest.chunking import Chunker, ChunkingConfig
from ingest.embedders.base import Embedder
from ingest.limits import FileLimits
from ingest.progress import FileOutcome, ProgressListener, run_reported
from ingest.sinks import ChunkSink
from ingest.stores.base import MetadataFilter, VectorStore
from ingest.types import ParsedDocument
from ingest.writing import EMBED_WINDOW, ChunkedDocument, chunk_document, embed_window, windows


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
    def ok(self) -> bool:
        return not self.skipped

    @property
    def chunks(self) -> int:
        return sum(f.chunks for f in self.files)

    @property
    def chunks_per_second(self) -> float:
        return self.chunks / self.seconds if self.seconds > 0 else 0.0


class Indexer:
    """Writes parsed documents into a knowledge base with one embedder and one store.

    Chunks of several small documents are embedded together so the encoder sees full batches,
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

    def ingest_documents(
        self, docs: Iterable[ParsedDocument], kb: str, progress: ProgressListener | None = None
    ) -> IngestReport:
        listener = progress or ProgressListener()
        return run_reported(listener, lambda: self._index(docs, kb, listener))

    def _index(self, docs: Iterable[ParsedDocument], kb: str, progress: ProgressListener) -> IngestReport:
        report = IngestReport(kb=kb, embedding_model=self.embedder.model_id)
        self.store.ensure_kb(kb, self.embedder.model_id, self.embedder.dimension)
        for window in windows(self._chunked(docs, kb, report, progress), self.embed_batch):
            for complete, vectors in embed_window(self.embedder, window, progress):
                self._write(complete, vectors, kb, report, progress)
        return report

    def _chunked(
        self, docs: Iterable[ParsedDocument], kb: str, report: IngestReport, progress: ProgressListener
    ) -> Iterator[ChunkedDocument]:
        for doc in docs:
            chunked = chunk_document(self.chunker, doc, kb, self.limits)
            if isinstance(chunked, str):
                self._record(report, progress, FileOutcome(doc.source, "skipped", reason=chunked))
            else:
                yield chunked

    def _write(
        self,
        complete: list[ChunkedDocument],
        vectors: dict[str, list[float]],
        kb: str,
        report: IngestReport,
        progress: ProgressListener,
    ) -> None:
        for item in complete:
            doc_id = item.document.doc_id
            self.store.delete(kb, where=MetadataFilter({"doc_id": doc_id}))
            self.store.upsert(kb, item.chunks, [vectors[c.text] for c in item.chunks])
            for sink in self.sinks:
                sink.replace_document(kb, doc_id, item.chunks)
            self._record(report, progress, FileOutcome(item.document.source, "indexed", chunks=len(item.chunks)))

    @staticmethod
    def _record(report: IngestReport, progress: ProgressListener, outcome: FileOutcome) -> None:
        report.files.append(outcome)
        progress.file_done(outcome)
