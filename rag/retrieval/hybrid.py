"""Hybrid retrieval: dense and BM25 candidates, fused, optionally reranked, de-duplicated.

Dense search finds paraphrases; BM25 finds the exact names, numbers and rare terms that a
small embedding model blurs. Each is run for its own candidate list, the lists are fused
(``rag.retrieval.fusion``) and, when a reranker is configured, its top candidates are rescored.

``HybridRetriever`` has ``Retriever``'s interface (``check_kb``, ``retrieve``), so the
orchestrator uses either unchanged. ``Retrieved.best_score`` stays a dense cosine (the best
one the vector store returned), because the web-search threshold is calibrated on cosines.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Literal

from ingest.embedders.base import Embedder
from ingest.embedders.languages import is_chinese_text, reads_chinese
from ingest.errors import KnowledgeBaseNotFound, VectorIndexError
from ingest.lexical.backend import LexicalBackend
from ingest.stores.base import VectorStore
from ingest.types import Hit
from rag.errors import RerankError, RetrievalError, UnknownKnowledgeBase
from rag.metrics import stage
from rag.retrieval.base import Retrieved, Retriever, drop_near_duplicates
from rag.retrieval.fusion import FusionMethod, Ranking, fuse
from rag.retrieval.rerank import Reranker, rerank_hits

log = logging.getLogger(__name__)

Mode = Literal["dense", "lexical", "hybrid"]


@dataclass(frozen=True, slots=True)
class HybridRetrieved(Retrieved):
    """``hits`` carry fused (or rerank) scores; ``dense_best`` is the best cosine seen, if any."""

    dense_best: float | None = None

    @property
    def best_score(self) -> float | None:
        return self.dense_best


class HybridRetriever(Retriever):
    """Dense + lexical retrieval over one knowledge base; a ``Retriever`` wherever one is expected.

    ``mode="dense"`` behaves like ``Retriever``; ``"lexical"`` uses BM25 only (``best_score``
    is then ``None``); ``"hybrid"`` fuses both. A knowledge base without lexical entries (built
    before the lexical index existed) gets dense results only (still fused, so the metadata has
    the same shape), with a warning. A failing reranker
    is logged and skipped: the fused order is still a good answer.
    """

    def __init__(
        self,
        embedder: Embedder,
        store: VectorStore,
        lexical: LexicalBackend | None,
        *,
        mode: Mode = "hybrid",
        fusion: FusionMethod = "rrf",
        rrf_k: int = 60,
        dense_weight: float = 1.0,
        lexical_weight: float = 1.0,
        foreign_dense_weight: float | None = None,
        dense_candidates: int = 50,
        lexical_candidates: int = 50,
        reranker: Reranker | None = None,
        rerank_candidates: int = 30,
        candidate_factor: int = 3,
        near_duplicate_threshold: float = 0.85,
        ef_search: int | None = None,
    ) -> None:
        if mode != "dense" and lexical is None:
            raise ValueError(f"retrieval mode {mode!r} needs a lexical index")
        super().__init__(
            embedder,
            store,
            candidate_factor=candidate_factor,
            near_duplicate_threshold=near_duplicate_threshold,
            ef_search=ef_search,
        )
        self.lexical = lexical
        self.mode: Mode = mode
        self.fusion: FusionMethod = fusion
        self.rrf_k = rrf_k
        self.dense_weight = dense_weight
        self.lexical_weight = lexical_weight
        self.foreign_dense_weight = foreign_dense_weight
        self.dense_candidates = dense_candidates
        self.lexical_candidates = lexical_candidates
        self.reranker = reranker
        self.rerank_candidates = rerank_candidates
        self._warned_missing: set[str] = set()

    # ``check_kb`` is inherited: the vector store is the record of which knowledge bases exist, in every mode.

    # -- the two sides ---------------------------------------------------------------------
    # ``dense_hits`` is inherited from ``Retriever``.

    def lexical_hits(self, question: str, kb: str, depth: int) -> list[Hit]:
        assert self.lexical is not None
        try:
            # A knowledge base without a lexical index finds nothing, so whether it has one is
            # asked only then: one index look-up fewer on every question that finds something.
            with stage("lexical_search"):
                hits = self.lexical.search(kb, question, depth)
            if not hits and kb not in self._warned_missing and not self.lexical.has_kb(kb):
                self._warned_missing.add(kb)
                log.warning(
                    "knowledge base %r has no lexical index (built before it existed?): "
                    "searching it densely only; re-ingest or backfill it",
                    kb,
                )
            return hits
        except Exception as exc:  # sqlite3 / bm25s errors: the index is unusable, say so
            raise RetrievalError(f"lexical search of {kb!r} failed: {exc}") from exc

    # -- the pipeline ----------------------------------------------------------------------
    @property
    def embeds_questions(self) -> bool:
        return self.mode != "lexical"

    def candidates(
        self,
        question: str,
        kb: str,
        depth: int | None = None,
        *,
        vector: list[float] | None = None,
        complete: int | None = None,
    ) -> tuple[list[Hit], float | None]:
        """Fused (and reranked) candidates, best first, before de-duplication; and the best
        dense cosine. ``depth`` overrides both sides' candidate counts (evaluation asks for more).

        The vector store is asked for ids and scores only; text and metadata are then read for
        the first ``complete`` candidates (all by default) and for those the reranker reads, from
        the lexical index where it has them (the same rows) and the store otherwise. Most of the
        fifty candidates are never read, and reading them cost Chroma two thirds of its search."""
        dense_depth = depth or self.dense_candidates
        lexical_depth = depth or self.lexical_candidates
        dense: list[Hit] = []
        lexical: list[Hit] = []
        if self.mode in ("dense", "hybrid"):
            dense = self.dense_hits(question, kb, dense_depth, vector, payload=False)
        if self.mode in ("lexical", "hybrid"):
            lexical = self.lexical_hits(question, kb, lexical_depth)
        dense_best = max((h.score for h in dense), default=None)
        if self.mode == "dense":
            hits = dense
        elif self.mode == "lexical":
            hits = lexical
        else:  # fused even when one side is empty, so hybrid hits always explain themselves alike
            rankings = [
                Ranking("dense", dense, self.dense_weight_for(question)),
                Ranking("lexical", lexical, self.lexical_weight),
            ]
            with stage("fusion"):
                hits = fuse(rankings, self.fusion, rrf_k=self.rrf_k)
        if complete is not None and self.reranker is not None:
            complete = max(complete, self.rerank_candidates)
        with stage("read_candidates"):
            hits = self._completed(kb, hits, complete)
        return self._rerank(question, hits), dense_best

    def _completed(self, kb: str, hits: list[Hit], count: int | None) -> list[Hit]:
        """The first ``count`` hits (all when None) with their text and metadata; a chunk deleted
        since the search is left out."""
        head = hits if count is None else hits[:count]
        missing = [hit.chunk_id for hit in head if not hit.has_payload]
        if not missing:
            return hits
        found: dict[str, Hit] = {}
        read_lexical = getattr(self.lexical, "get", None)
        if read_lexical is not None:
            try:
                found = {hit.chunk_id: hit for hit in read_lexical(kb, missing)}
            except Exception as exc:  # sqlite3 errors: the store holds the same rows
                log.warning("reading candidates from the lexical index failed (%s); reading them from the store", exc)
        rest = [chunk_id for chunk_id in missing if chunk_id not in found]
        if rest:
            try:
                found.update((hit.chunk_id, hit) for hit in self.store.get(kb, rest))
            except KnowledgeBaseNotFound as exc:
                raise UnknownKnowledgeBase(kb) from exc
            except VectorIndexError as exc:
                raise RetrievalError(str(exc)) from exc
        completed = []
        for hit in head:
            stored = hit if hit.has_payload else found.get(hit.chunk_id)
            if stored is hit:
                completed.append(hit)
            elif stored is not None:
                metadata = {**stored.metadata, **hit.metadata}
                completed.append(Hit(chunk_id=hit.chunk_id, text=stored.text, score=hit.score, metadata=metadata))
        return completed + hits[len(head) :]

    def dense_weight_for(self, question: str) -> float:
        """``dense_weight``, or ``foreign_dense_weight`` when the question is Chinese and the
        embedding model was trained on English only (its vectors then carry little meaning)."""
        if self.foreign_dense_weight is None or reads_chinese(self.embedder.model_id):
            return self.dense_weight
        return self.foreign_dense_weight if is_chinese_text(question) else self.dense_weight

    def _rerank(self, question: str, hits: list[Hit]) -> list[Hit]:
        if self.reranker is None or not hits:
            return hits
        head, tail = hits[: self.rerank_candidates], hits[self.rerank_candidates :]
        try:
            with stage("rerank"):
                return rerank_hits(self.reranker, question, head) + tail
        except RerankError as exc:
            log.warning("reranking skipped: %s", exc)
            return hits

    def retrieve(self, question: str, kb: str, top_k: int, *, vector: list[float] | None = None) -> HybridRetrieved:
        """As ``Retriever.retrieve``: a caller that passes ``vector`` has already called ``check_kb``."""
        if vector is None:
            self.check_kb(kb)
        size = max(top_k * self.candidate_factor, top_k)
        hits, dense_best = self.candidates(question, kb, vector=vector, complete=size)
        window = hits[:size]
        kept = drop_near_duplicates(window, self.near_duplicate_threshold, top_k)
        return HybridRetrieved(hits=kept, dense_best=dense_best)
