"""Indexes kept in step with the vector store by every write (the lexical index is one)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from ingest.types import Chunk, Hit


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
