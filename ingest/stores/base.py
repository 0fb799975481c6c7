"""The ``VectorStore`` Protocol: one collection per knowledge base, cosine HNSW search."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from ingest.types import Chunk, Hit, KnowledgeBaseInfo


@dataclass(frozen=True, slots=True)
class HnswParams:
    """HNSW graph parameters; ``ef_search`` may be changed per query."""

    m: int = 16
    ef_construction: int = 200
    ef_search: int = 100


@dataclass(frozen=True, slots=True)
class MetadataFilter:
    """Equality filters on stored metadata, ANDed; each backend translates it once.

    ``equals`` maps a metadata key to one value or a list of accepted values.
    """

    equals: dict[str, Any] = field(default_factory=dict)

    def is_empty(self) -> bool:
        return not self.equals


@runtime_checkable
class VectorStore(Protocol):
    """Stores chunk vectors per knowledge base.

    Promises: ``upsert`` is idempotent (chunk ids are deterministic); a search right after a
    write in the same process sees the write; a knowledge base remembers the embedding model
    and dimension it was created with, and ``ensure_kb`` with another raises
    ``EmbeddingModelMismatch``. Raises ``VectorIndexError`` (``KnowledgeBaseNotFound``) otherwise.
    """

    def ensure_kb(self, kb: str, embedding_model: str, dimension: int) -> KnowledgeBaseInfo:
        """Create the knowledge base if missing; check its model if present."""
        ...

    def kb_info(self, kb: str) -> KnowledgeBaseInfo:
        """Raises ``KnowledgeBaseNotFound``."""
        ...

    def kb_model(self, kb: str) -> tuple[str, int]:
        """The embedding model and dimension ``kb`` was built with, without ``kb_info``'s count
        (a scan on some stores, and asked before every question). Raises ``KnowledgeBaseNotFound``."""
        ...

    def list_kbs(self) -> list[KnowledgeBaseInfo]: ...

    def drop_kb(self, kb: str) -> None: ...

    def replace_kb(self, kb: str, staging: str) -> None:
        """Make the fully built ``staging`` knowledge base become ``kb`` (the old ``kb`` is dropped).

        Used by full rebuilds so queries never see a half-built index; idempotent when ``staging``
        no longer exists and ``kb`` does (a replace that already happened).
        """
        ...

    def upsert(self, kb: str, chunks: Sequence[Chunk], vectors: Sequence[Sequence[float]]) -> None: ...

    def delete(self, kb: str, *, chunk_ids: Sequence[str] | None = None, where: MetadataFilter | None = None) -> int:
        """Delete by ids or by filter; returns how many were deleted."""
        ...

    def search(
        self,
        kb: str,
        vector: Sequence[float],
        top_k: int,
        *,
        where: MetadataFilter | None = None,
        ef_search: int | None = None,
        payload: bool = True,
    ) -> list[Hit]:
        """Nearest chunks, best first, ``Hit.score`` = cosine similarity. With ``payload=False``
        a store may return ids and scores only (``Hit.has_payload`` False), where reading the
        text and metadata of every candidate costs more than fetching the few that are used."""
        ...

    def count(self, kb: str) -> int: ...

    def get(self, kb: str, chunk_ids: Sequence[str]) -> list[Hit]:
        """Stored chunks by id (score 1.0), in no particular order; missing ids are left out."""
        ...

    def export(self, kb: str, batch_size: int = 512) -> Iterator[tuple[Hit, list[float]]]:
        """Every stored chunk with its vector, for migrating between backends without re-embedding."""
        ...
