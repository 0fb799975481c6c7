"""Where re-index jobs are put together: the knowledge base's lock, its manifest, the crash-safe
swap of a full rebuild, the embedding cache. The CLI and the API start jobs only through here.

Nothing here loads a chat model or a web client: a job needs the embedder, the store and the
lexical index, and nothing else of the answering side.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from ingest.chunk_sources import JobEngine, local_engine
from ingest.chunking import ChunkingConfig
from ingest.embed_cache import CachedEmbedder, EmbeddingCache
from ingest.embedders.base import Embedder
from ingest.failpoints import failpoint
from ingest.limits import FileLimits
from ingest.locking import KbLock
from ingest.manifest import Manifest
from ingest.rebuild import KbFiles, staging_name
from ingest.reindex import ReindexJob
from ingest.settings import IngestSettings
from ingest.sinks import KbIndexSink
from ingest.storage_errors import disk_full
from ingest.stores.base import VectorStore
from ingest.stores.naming import validate_kb_name


@contextmanager
def kb_lock(data_dir: Path, kb: str, job: str) -> Iterator[KbLock]:
    """Hold ``kb``'s job lock (``JobLocked`` at once when another job has it); nothing is loaded first."""
    validate_kb_name(kb)
    with KbLock(KbFiles(data_dir, kb).lock, kb, job=job) as lock:
        yield lock


@dataclass(frozen=True, slots=True)
class JobRules:
    """How every job of this deployment chunks and what it refuses (from ``IngestSettings``)."""

    chunking: ChunkingConfig = field(default_factory=ChunkingConfig)
    limits: FileLimits = field(default_factory=FileLimits)
    max_delete_share: float = 0.5

    @classmethod
    def from_settings(cls, settings: IngestSettings) -> JobRules:
        chunking = settings.chunking
        return cls(
            chunking=ChunkingConfig(
                chunk_tokens=chunking.chunk_tokens,
                overlap_tokens=chunking.overlap_tokens,
                heading_prefix=chunking.heading_prefix,
            ),
            limits=settings.ingest.file_limits(),
            max_delete_share=settings.ingest.max_delete_share,
        )


class KbJobs:
    """Opens jobs on the knowledge bases under ``data_dir`` with one embedder, store and lexical index."""

    def __init__(
        self, data_dir: Path, embedder: Embedder, store: VectorStore, lexical: KbIndexSink, rules: JobRules
    ) -> None:
        self.data_dir = data_dir
        self.embedder = embedder
        self.store = store
        self.lexical = lexical
        self.rules = rules

    @contextmanager
    def open(
        self,
        kb: str,
        *,
        workers: int | None = None,
        job: str = "reindex",
        full: bool = False,
        engine: JobEngine | None = None,
    ) -> Iterator[ReindexJob]:
        """A job holding the knowledge base's lock, with its manifest and the embedding cache.

        ``full`` builds a staging copy from scratch and swaps it in when the ``with`` block ends
        without error, so queries never see a half-built index.
        """
        with (
            kb_lock(self.data_dir, kb, job),
            self.open_locked(kb, workers=workers, full=full, engine=engine) as reindex,
        ):
            yield reindex

    @contextmanager
    def open_locked(
        self, kb: str, *, workers: int | None = None, full: bool = False, engine: JobEngine | None = None
    ) -> Iterator[ReindexJob]:
        """``open`` for a caller that already holds ``kb_lock`` (the CLI takes it before the
        embedding model loads, so a refused job is told at once). ``engine`` runs the parsing and
        embedding (default: worker processes on this machine, ``workers`` of them)."""
        validate_kb_name(kb)
        engine = engine or local_engine(workers)
        files = KbFiles(self.data_dir, kb)
        sinks = [self.lexical]
        files.finish_swap(self.store, sinks)  # a crash mid-swap is completed before anything else
        files.discard_staging(self.store, sinks)  # a rebuild killed before its swap starts again
        cache = EmbeddingCache(self.data_dir / "embedding_cache.sqlite")
        try:
            with Manifest(files.staging_manifest if full else files.manifest) as manifest:
                yield ReindexJob(
                    kb,
                    CachedEmbedder(self.embedder, cache),
                    self.store,
                    manifest,
                    chunking=self.rules.chunking,
                    sinks=sinks,
                    collection=staging_name(kb) if full else None,
                    max_delete_share=self.rules.max_delete_share,
                    limits=self.rules.limits,
                    source=engine.source,
                    embed_slice=engine.embed_slice,
                    embed_batch=engine.embed_window,
                    engine=engine.name,
                )
            if full:
                files.begin_swap()
                failpoint("after_swap_marker")
                files.finish_swap(self.store, sinks)
            self.lexical.commit(kb)  # after a swap: the staging copy's matrix would be thrown away
        except Exception as exc:
            full_disk = disk_full(exc, self.data_dir)
            if full_disk is None:
                raise
            raise full_disk from exc
        finally:
            cache.close()
