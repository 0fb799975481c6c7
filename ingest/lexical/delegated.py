"""The lexical side of hybrid retrieval served by the vector store's own BM25, where it has one.

Milvus >= 2.5 and Milvus Lite rank chunks by BM25 themselves: a function on the collection turns
each chunk's text into a sparse vector as it is inserted, so there is no second index to write,
rebuild or keep in step with the store. Whether a knowledge base can use it is a property of its
collection (created with that function or not), so the choice is made per knowledge base and
re-checked after a rebuild swaps collections: knowledge bases whose collection has it are served
by the store; every other one (created before, on a Milvus 2.3 server, or on Chroma) by the
``LexicalIndex`` given as ``fallback``, which then also receives its writes.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable
from typing import Protocol, runtime_checkable

from ingest.errors import KnowledgeBaseNotFound, VectorIndexError
from ingest.lexical.index import LexicalIndex
from ingest.lexical.tokenize import drop_chinese_stopwords
from ingest.types import Chunk, Hit

log = logging.getLogger(__name__)

# How long a knowledge base's answer (delegated or not) is trusted: another process's rebuild
# may swap in a collection with or without BM25, and asking costs a describe call per search.
DECISION_TTL_S = 30.0


@runtime_checkable
class FullTextStore(Protocol):
    """A vector store that can rank a knowledge base's chunks by BM25 itself (``MilvusStore``)."""

    def has_full_text(self, kb: str) -> bool: ...

    def full_text_search(self, kb: str, query: str, top_k: int) -> list[Hit]: ...

    def count(self, kb: str) -> int: ...


class StoreFullTextIndex:
    """A ``LexicalIndex`` stand-in: the store's BM25 for knowledge bases that have it, ``fallback``
    for the rest. Same methods as ``LexicalIndex`` (a ``KbIndexSink`` with ``search``)."""

    def __init__(self, store: object, fallback: LexicalIndex, *, ttl_s: float = DECISION_TTL_S) -> None:
        self.store = store if isinstance(store, FullTextStore) else None
        self.fallback = fallback
        self.ttl_s = ttl_s
        self._delegated: dict[str, tuple[bool, float]] = {}  # kb -> (answer, when asked)
        self._lock = threading.Lock()
        if self.store is None:
            log.info("%s has no full-text search: BM25 stays in the lexical index", type(store).__name__)

    def delegated(self, kb: str) -> bool:
        """Whether the store ranks ``kb`` (False for a knowledge base the store does not have yet)."""
        if self.store is None:
            return False
        with self._lock:
            known = self._delegated.get(kb)
        if known is not None and time.monotonic() - known[1] < self.ttl_s:
            return known[0]
        try:
            found = self.store.has_full_text(kb)
        except KnowledgeBaseNotFound:
            return False  # not created yet: ask again once it is
        with self._lock:
            self._delegated[kb] = (found, time.monotonic())
        return found

    def _forget(self, *kbs: str) -> None:
        with self._lock:
            for kb in kbs:
                self._delegated.pop(kb, None)

    # -- writes (KbIndexSink) ----------------------------------------------------------------
    def replace_document(self, kb: str, doc_id: str, chunks: list[Chunk]) -> None:
        if not self.delegated(kb):  # the store's function indexes what the store is given
            self.fallback.replace_document(kb, doc_id, chunks)

    def count(self, kb: str) -> int:
        """Chunks this side can rank: the store's own count for a delegated knowledge base, so a
        re-index job's consistency check finds nothing to backfill."""
        if self.delegated(kb):
            assert self.store is not None
            return self.store.count(kb)
        return self.fallback.count(kb)

    def ensure_kb(self, kb: str) -> None:
        if not self.delegated(kb):
            self.fallback.ensure_kb(kb)

    def backfill(self, kb: str, hits: Iterable[Hit]) -> int:
        return 0 if self.delegated(kb) else self.fallback.backfill(kb, hits)

    def drop_kb(self, kb: str) -> None:
        self._forget(kb)
        self.fallback.drop_kb(kb)

    def replace_kb(self, kb: str, staging: str) -> None:
        """After the store swapped ``staging`` in as ``kb``: follow in the fallback, and drop
        the fallback's copy of ``kb`` when the swapped-in collection ranks by itself."""
        self._forget(kb, staging)
        self.fallback.replace_kb(kb, staging)
        if self.delegated(kb) and self.fallback.has_kb(kb):
            self.fallback.drop_kb(kb)

    def commit(self, kb: str | None = None) -> None:
        if kb is None or not self.delegated(kb):
            self.fallback.commit(kb)

    # -- reads -------------------------------------------------------------------------------
    def has_kb(self, kb: str) -> bool:
        return self.delegated(kb) or self.fallback.has_kb(kb)

    def search(self, kb: str, query: str, top_k: int) -> list[Hit]:
        """Best ``top_k`` chunks by BM25, best first (``Hit.score``: the BM25 score of its side)."""
        if self.delegated(kb):
            assert self.store is not None
            try:
                # whole question words go before the store's analyser can split them (see the function)
                return self.store.full_text_search(kb, drop_chinese_stopwords(query), top_k)
            except VectorIndexError:
                self._forget(kb)  # swapped for a collection without BM25 since we asked? ask again
                if self.delegated(kb):
                    raise
        return self.fallback.search(kb, query, top_k)

    def close(self) -> None:
        self.fallback.close()
