"""Builds the runtime parts (embedder, store, retriever, chat model, orchestrator) from settings.

Shared by the CLI and the API so both run the same configuration the same way.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from ingest.chunking import ChunkingConfig
from ingest.embed_cache import CachedEmbedder, EmbeddingCache
from ingest.embedders.factory import EmbedderChoice, load_embedder
from ingest.failpoints import failpoint
from ingest.lexical import LexicalIndex, Tokenizer, TokenizerConfig
from ingest.lexical.backend import LexicalBackend
from ingest.locking import KbLock
from ingest.manifest import Manifest
from ingest.pipeline import Indexer
from ingest.rebuild import KbFiles, staging_name
from ingest.reindex import ReindexJob
from ingest.settings import IngestSettings
from ingest.storage_errors import disk_full
from ingest.stores.base import HnswParams, VectorStore
from ingest.stores.factory import build_store
from ingest.stores.naming import validate_kb_name
from rag.llm.client import ChatModel, build_chat_model
from rag.orchestrator import Orchestrator, WebSearcher
from rag.retrieval.base import Retriever
from rag.retrieval.hybrid import HybridRetriever
from rag.retrieval.rerank import build_reranker
from rag.settings import RagSettings

log = logging.getLogger(__name__)


@contextmanager
def kb_lock(settings: IngestSettings, kb: str, job: str) -> Iterator[KbLock]:
    """Hold ``kb``'s job lock (``JobLocked`` at once when another job has it); nothing is loaded first."""
    validate_kb_name(kb)
    with KbLock(KbFiles(settings.data_dir, kb).lock, kb, job=job) as lock:
        yield lock


def make_store(settings: RagSettings) -> VectorStore:
    hnsw = settings.store.hnsw
    token = settings.store.token.get_secret_value() if settings.store.token else None
    return build_store(
        settings.store.backend,
        path_or_uri=settings.store_uri(),
        token=token,
        hnsw=HnswParams(m=hnsw.m, ef_construction=hnsw.ef_construction, ef_search=hnsw.ef_search),
        full_text=settings.retrieval.lexical_backend == "store",
        timeout_s=settings.store.timeout_s,
    )


def make_lexical(settings: RagSettings, store: VectorStore) -> LexicalBackend:
    """The lexical side of hybrid retrieval: BM25 here (default), BGE-M3's learned sparse
    weights, or the store's own BM25 for the knowledge bases whose collections have it."""
    retrieval = settings.retrieval
    root = retrieval.lexical_dir or settings.data_dir / "lexical"
    if retrieval.lexical_backend == "bge-m3-sparse":
        from ingest.lexical.sparse import BGEM3SparseEncoder, SparseIndex

        return SparseIndex(root / "bge-m3-sparse", BGEM3SparseEncoder(retrieval.sparse_model))
    bm25 = LexicalIndex(root, Tokenizer(TokenizerConfig(chinese=retrieval.chinese_tokenizer)))
    if retrieval.lexical_backend == "store":
        from ingest.lexical.delegated import StoreFullTextIndex

        return StoreFullTextIndex(store, bm25)
    return bm25


def make_retriever(settings: RagSettings, embedder: Any, store: VectorStore, lexical: LexicalBackend) -> Retriever:
    retrieval = settings.retrieval
    return HybridRetriever(
        embedder,
        store,
        lexical,
        mode=retrieval.mode,
        fusion=retrieval.fusion,
        rrf_k=retrieval.rrf_k,
        dense_weight=retrieval.dense_weight,
        lexical_weight=retrieval.lexical_weight,
        foreign_dense_weight=retrieval.foreign_dense_weight,
        dense_candidates=retrieval.dense_candidates,
        lexical_candidates=retrieval.lexical_candidates,
        reranker=build_reranker(retrieval.rerank),
        rerank_candidates=retrieval.rerank.candidates,
        candidate_factor=retrieval.candidate_factor,
        near_duplicate_threshold=retrieval.near_duplicate_threshold,
        ef_search=retrieval.ef_search,
    )


def make_web_client(settings: RagSettings) -> WebSearcher | None:
    if not settings.web.proxy_url:
        return None
    from rag.web_client import SearchProxyClient

    key = settings.web.api_key.get_secret_value() if settings.web.api_key else None
    client: WebSearcher = SearchProxyClient(settings.web.proxy_url, api_key=key)
    return client


@dataclass
class Components:
    """Everything a request needs, built once per process."""

    settings: RagSettings
    embedder_choice: EmbedderChoice
    store: VectorStore
    lexical: LexicalBackend
    chat: ChatModel | None
    web: WebSearcher | None
    retriever: Retriever
    orchestrator: Orchestrator
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def embedder(self) -> Any:
        return self.embedder_choice.embedder

    def indexer(self) -> Indexer:
        """For documents that are not files (evaluation corpora); files go through ``reindex_job``."""
        return Indexer(
            self.embedder,
            self.store,
            self.chunking_config(),
            sinks=[self.lexical],
            limits=self.settings.ingest.file_limits(),
        )

    def chunking_config(self) -> ChunkingConfig:
        chunking = self.settings.chunking
        return ChunkingConfig(
            chunk_tokens=chunking.chunk_tokens,
            overlap_tokens=chunking.overlap_tokens,
            heading_prefix=chunking.heading_prefix,
        )

    @contextmanager
    def reindex_job(
        self, kb: str, *, workers: int | None = None, job: str = "reindex", full: bool = False
    ) -> Iterator[ReindexJob]:
        """A job holding the knowledge base's lock, with its manifest and the embedding cache.

        ``full`` builds a staging copy from scratch and swaps it in when the ``with`` block ends
        without error, so queries never see a half-built index.
        """
        with kb_lock(self.settings, kb, job), self.locked_job(kb, workers=workers, full=full) as reindex:
            yield reindex

    @contextmanager
    def locked_job(self, kb: str, *, workers: int | None = None, full: bool = False) -> Iterator[ReindexJob]:
        """``reindex_job`` for a caller that already holds ``kb_lock`` (the CLI takes it before the
        embedding model loads, so a refused job is told at once)."""
        validate_kb_name(kb)
        files = KbFiles(self.settings.data_dir, kb)
        sinks = [self.lexical]
        files.finish_swap(self.store, sinks)  # a crash mid-swap is completed before anything else
        files.discard_staging(self.store, sinks)  # a rebuild killed before its swap starts again
        cache = EmbeddingCache(self.settings.data_dir / "embedding_cache.sqlite")
        try:
            with Manifest(files.staging_manifest if full else files.manifest) as manifest:
                yield ReindexJob(
                    kb,
                    CachedEmbedder(self.embedder, cache),
                    self.store,
                    manifest,
                    chunking=self.chunking_config(),
                    workers=workers,
                    sinks=sinks,
                    collection=staging_name(kb) if full else None,
                    max_delete_share=self.settings.ingest.max_delete_share,
                    limits=self.settings.ingest.file_limits(),
                )
            if full:
                files.begin_swap()
                failpoint("after_swap_marker")
                files.finish_swap(self.store, sinks)
            self.lexical.commit(kb)  # after a swap: the staging copy's matrix would be thrown away
        except Exception as exc:
            full_disk = disk_full(exc, self.settings.data_dir)
            if full_disk is None:
                raise
            raise full_disk from exc
        finally:
            cache.close()

    def embedding_status(self) -> dict[str, Any]:
        choice = self.embedder_choice
        return {
            "model": choice.embedder.model_id,
            "requested": choice.requested,
            "fallback": choice.is_fallback,
            "fallback_reason": choice.fallback_reason,
        }


def build_components(
    settings: RagSettings,
    *,
    embedder_choice: EmbedderChoice | None = None,
    chat: ChatModel | None = None,
    web: WebSearcher | None = None,
) -> Components:
    """Load the embedder (with its fallback), open nothing else until first use."""
    choice = embedder_choice or load_embedder(settings.embedding)
    store = make_store(settings)
    lexical = make_lexical(settings, store)
    retriever = make_retriever(settings, choice.embedder, store, lexical)
    chat = chat if chat is not None else build_chat_model(settings.llm)
    web = web if web is not None else make_web_client(settings)
    orchestrator = Orchestrator(settings, retriever, chat, web)
    return Components(settings, choice, store, lexical, chat, web, retriever, orchestrator)
