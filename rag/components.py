"""Builds the runtime parts (embedder, store, retriever, chat model, orchestrator) from settings.

Shared by the CLI and the API so both run the same configuration the same way.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from ingest.chunking import ChunkingConfig
from ingest.embedders.factory import EmbedderChoice, load_embedder
from ingest.pipeline import Indexer
from ingest.stores.base import HnswParams, VectorStore
from ingest.stores.factory import build_store
from rag.llm.client import ChatModel, build_chat_model
from rag.orchestrator import Orchestrator, WebSearcher
from rag.retrieval import Retriever
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
    chat: ChatModel | None
    web: WebSearcher | None
    retriever: Retriever
    orchestrator: Orchestrator
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def embedder(self) -> Any:
        return self.embedder_choice.embedder

    def indexer(self) -> Indexer:
        chunking = self.settings.chunking
        return Indexer(
            self.embedder,
            self.store,
            ChunkingConfig(
                chunk_tokens=chunking.chunk_tokens,
                overlap_tokens=chunking.overlap_tokens,
                heading_prefix=chunking.heading_prefix,
            ),
        )

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
    retrieval = settings.retrieval
    retriever = Retriever(
        choice.embedder,
        store,
        candidate_factor=retrieval.candidate_factor,
        near_duplicate_threshold=retrieval.near_duplicate_threshold,
        ef_search=retrieval.ef_search,
    )
    chat = chat if chat is not None else build_chat_model(settings.llm)
    web = web if web is not None else make_web_client(settings)
    orchestrator = Orchestrator(settings, retriever, chat, web)
    return Components(settings, choice, store, chat, web, retriever, orchestrator)
