"""Builds the runtime parts from settings: ``build_indexing`` (embedder, store, lexical index,
re-index jobs) for what writes knowledge bases, ``build_components`` (that plus the retriever,
chat model, web client and orchestrator) for what answers.

Shared by the CLI and the API so both run the same configuration the same way.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from ingest.embedders.cpu_threads import set_torch_threads
from ingest.embedders.factory import EmbedderChoice, load_embedder
from ingest.kb_jobs import JobRules, KbJobs
from ingest.lexical import LexicalIndex, Tokenizer, TokenizerConfig
from ingest.lexical.backend import LexicalBackend
from ingest.stores.base import HnswParams, VectorStore
from ingest.stores.factory import build_store
from rag.llm.client import ChatModel, build_chat_model
from rag.orchestrator import Orchestrator, WebSearcher
from rag.retrieval.base import Retriever
from rag.retrieval.hybrid import HybridRetriever
from rag.retrieval.rerank import build_reranker
from rag.settings import RagSettings

log = logging.getLogger(__name__)


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
class Indexing:
    """What writing knowledge bases needs (re-index jobs, uploads, deletes), built once per
    process: no chat model, no web client, no reranker."""

    settings: RagSettings
    embedder_choice: EmbedderChoice
    store: VectorStore
    lexical: LexicalBackend
    jobs: KbJobs

    @property
    def embedder(self) -> Any:
        return self.embedder_choice.embedder

    def embedding_status(self) -> dict[str, Any]:
        choice = self.embedder_choice
        return {
            "model": choice.embedder.model_id,
            "requested": choice.requested,
            "backend": getattr(choice.embedder, "backend", "remote"),
            "fallback": choice.is_fallback,
            "fallback_reason": choice.fallback_reason,
        }


def build_indexing(settings: RagSettings, *, embedder_choice: EmbedderChoice | None = None) -> Indexing:
    """Load the embedder (with its fallback); open the store and the lexical index lazily."""
    if settings.embedding.threads:
        set_torch_threads(settings.embedding.threads)
    choice = embedder_choice or load_embedder(settings.embedding)
    store = make_store(settings)
    lexical = make_lexical(settings, store)
    jobs = KbJobs(settings.data_dir, choice.embedder, store, lexical, JobRules.from_settings(settings))
    return Indexing(settings, choice, store, lexical, jobs)


@dataclass
class Components(Indexing):
    """Everything a request needs, built once per process: ``Indexing`` and the answering side."""

    chat: ChatModel | None
    web: WebSearcher | None
    retriever: Retriever
    orchestrator: Orchestrator
    extras: dict[str, Any] = field(default_factory=dict)


def build_components(
    settings: RagSettings,
    *,
    embedder_choice: EmbedderChoice | None = None,
    chat: ChatModel | None = None,
    web: WebSearcher | None = None,
) -> Components:
    """``build_indexing`` plus the retriever, the chat model and the web client."""
    indexing = build_indexing(settings, embedder_choice=embedder_choice)
    retriever = make_retriever(settings, indexing.embedder, indexing.store, indexing.lexical)
    chat = chat if chat is not None else build_chat_model(settings.llm)
    web = web if web is not None else make_web_client(settings)
    orchestrator = Orchestrator(settings, retriever, chat, web)
    fields = {name: getattr(indexing, name) for name in ("settings", "embedder_choice", "store", "lexical", "jobs")}
    return Components(**fields, chat=chat, web=web, retriever=retriever, orchestrator=orchestrator)
