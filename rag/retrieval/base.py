"""Knowledge-base retrieval: embed the question, search, drop near-duplicates, keep scores."""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from ingest.embedders.base import Embedder
from ingest.errors import EmbeddingModelMismatch, KnowledgeBaseNotFound, VectorIndexError
from ingest.stores.base import VectorStore
from ingest.types import Hit
from rag.errors import RetrievalError, UnknownKnowledgeBase
from rag.metrics import stage

_SPACE = re.compile(r"\s+")
_SHINGLE = 4
# Four code points (21 bits each) mixed into one 64-bit key; two different shingles share a key
# with odds of about one in 2**64 a pair.
_MIX = np.array([0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9, 1], dtype=np.uint64)


def _shingles(text: str) -> np.ndarray:
    """The text's character 4-grams, as sorted unique 64-bit keys (a whole text of four characters
    or fewer is one shingle). Character shingles work for Chinese and English alike, with no
    tokenizer; as numbers they cost a fifth of what sets of strings did."""
    flat = _SPACE.sub(" ", text.lower()).strip()
    codes = np.frombuffer(flat.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    if codes.size <= _SHINGLE:
        codes = np.pad(codes, (0, _SHINGLE - codes.size))
    windows = np.lib.stride_tricks.sliding_window_view(codes, _SHINGLE)
    keys = np.sort(windows @ _MIX)  # uint64 arithmetic wraps: a mix, not a sum
    distinct: np.ndarray = keys[np.concatenate(([True], keys[1:] != keys[:-1]))]  # np.unique hashes: 4x slower
    return distinct


def _similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Jaccard of two shingle sets (sorted unique keys)."""
    shared = np.intersect1d(a, b, assume_unique=True).size
    return shared / (a.size + b.size - shared)


def drop_near_duplicates(hits: list[Hit], threshold: float, limit: int | None = None) -> list[Hit]:
    """Keep the best-ranked of each group of passages whose shingle Jaccard reaches ``threshold``;
    stop once ``limit`` are kept.

    Overlapping chunks and the same paragraph in two files otherwise crowd out other evidence.
    Jaccard is at most the smaller set's size over the larger's, so pairs of very different
    lengths are never intersected; and hits past the ``limit`` kept are never shingled (under
    load, shingling every candidate was a fifth of a request's CPU).
    """
    kept: list[tuple[Hit, np.ndarray]] = []
    for hit in hits:
        if limit is not None and len(kept) >= limit:
            break
        shingles = _shingles(hit.text)
        size = shingles.size
        if any(
            min(size, other.size) >= threshold * max(size, other.size) and _similarity(shingles, other) >= threshold
            for _, other in kept
        ):
            continue
        kept.append((hit, shingles))
    return [hit for hit, _ in kept]


@dataclass(frozen=True, slots=True)
class Retrieved:
    hits: list[Hit]

    @property
    def best_score(self) -> float | None:
        return max((h.score for h in self.hits), default=None)


class Retriever:
    """Dense retrieval over one store with the embedder the knowledge base was built with."""

    def __init__(
        self,
        embedder: Embedder,
        store: VectorStore,
        *,
        candidate_factor: int = 3,
        near_duplicate_threshold: float = 0.85,
        ef_search: int | None = None,
    ) -> None:
        self.embedder = embedder
        self.store = store
        self.candidate_factor = candidate_factor
        self.near_duplicate_threshold = near_duplicate_threshold
        self.ef_search = ef_search

    def check_kb(self, kb: str) -> None:
        """Raise ``UnknownKnowledgeBase`` or ``EmbeddingModelMismatch`` before any work is done."""
        try:
            model, built_dimension = self.store.kb_model(kb)  # InvalidKnowledgeBaseName passes through
        except KnowledgeBaseNotFound as exc:
            raise UnknownKnowledgeBase(kb) from exc
        except VectorIndexError as exc:
            raise RetrievalError(str(exc)) from exc
        dimension = self.embedder.dimension
        if model != self.embedder.model_id or built_dimension != dimension:
            raise EmbeddingModelMismatch(kb, model, built_dimension, self.embedder.model_id, dimension)

    @property
    def embeds_questions(self) -> bool:
        """Whether ``retrieve`` needs the question's vector (a server embeds it beforehand, batched)."""
        return True

    def dense_hits(
        self, question: str, kb: str, depth: int, vector: list[float] | None = None, *, payload: bool = True
    ) -> list[Hit]:
        """The ``depth`` nearest chunks to the question's vector (embedded here unless given), best
        first (cosine scores); ``payload=False`` lets the store leave out text and metadata."""
        if vector is None:
            with stage("embed_query"):
                vector = self.embedder.embed_query(question)
        try:
            with stage("vector_search"):
                return self.store.search(kb, vector, depth, ef_search=self.ef_search, payload=payload)
        except KnowledgeBaseNotFound as exc:
            raise UnknownKnowledgeBase(kb) from exc
        except VectorIndexError as exc:
            raise RetrievalError(str(exc)) from exc

    def retrieve(self, question: str, kb: str, top_k: int, *, vector: list[float] | None = None) -> Retrieved:
        """The ``top_k`` best chunks. A caller that passes the question's ``vector`` (embedded in
        a batch with others) has already called ``check_kb``; without one it is checked here."""
        if vector is None:
            self.check_kb(kb)
        candidates = self.dense_hits(question, kb, top_k * self.candidate_factor, vector)
        return Retrieved(hits=drop_near_duplicates(candidates, self.near_duplicate_threshold, top_k))
