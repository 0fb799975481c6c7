"""Data builders shared by the contract tests."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import numpy as np

from ingest.stores.base import HnswParams
from ingest.types import Chunk

BACKENDS = ("chroma", "chroma-server", "milvus-lite", "milvus-server")
HNSW = HnswParams(m=16, ef_construction=200, ef_search=100)


def unit_vectors(n: int, dim: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    vectors = rng.normal(size=(n, dim)).astype(np.float32)
    unit: np.ndarray = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    return unit


def make_chunk(
    kb: str,
    i: int,
    *,
    doc_id: str | None = None,
    text: str | None = None,
    extra: dict[str, Any] | None = None,
    title: str = "Handbook",
) -> Chunk:
    body = text if text is not None else f"passage {i} about topic {i % 7}"
    return Chunk(
        chunk_id=f"chunk-{i:05d}",
        kb=kb,
        doc_id=doc_id or f"doc-{i % 4}",
        source=f"/srv/docs/doc-{i % 4}.pdf",
        title=title,
        text=body,
        chunk_index=i,
        content_hash=hashlib.sha256(body.encode()).hexdigest(),
        pages=(i % 5 + 1, i % 5 + 2),
        section=f"Section {i % 3}" if i % 2 else None,
        extra=extra if extra is not None else {"lang": "zh" if i % 2 else "en"},
    )


def make_chunks(kb: str, n: int, **kwargs: Any) -> list[Chunk]:
    return [make_chunk(kb, i, **kwargs) for i in range(n)]


def exact_top_k(corpus: np.ndarray, queries: np.ndarray, k: int) -> list[list[int]]:
    """Indices of the k most cosine-similar rows, best first (corpus and queries are unit vectors)."""
    scores = queries @ corpus.T
    order = np.argsort(-scores, axis=1)[:, :k]
    return [list(map(int, row)) for row in order]


def index_of(chunk_ids: Sequence[str]) -> list[int]:
    return [int(cid.rsplit("-", 1)[1]) for cid in chunk_ids]
