"""What hybrid retrieval and re-index jobs need of the lexical side, whichever serves it."""

from __future__ import annotations

from typing import Protocol

from ingest.sinks import KbIndexSink
from ingest.types import Hit


class LexicalBackend(KbIndexSink, Protocol):
    """``LexicalIndex`` (BM25 or learned sparse weights here) or ``StoreFullTextIndex`` (the
    vector store's own BM25): kept in step by re-index jobs, searched by ``HybridRetriever``."""

    def has_kb(self, kb: str) -> bool: ...

    def search(self, kb: str, query: str, top_k: int) -> list[Hit]: ...

    def close(self) -> None: ...
