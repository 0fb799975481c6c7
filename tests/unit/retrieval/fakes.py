"""In-memory embedder and vector store that honour the real Protocols, for retrieval unit tests."""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Iterator, Sequence

from ingest.errors import KnowledgeBaseNotFound
from ingest.stores.base import MetadataFilter
from ingest.types import Chunk, Hit, KnowledgeBaseInfo

DIM = 64


class HashEmbedder:
    """Bag of words hashed into ``DIM`` buckets: texts sharing words have a high cosine."""

    model_id = "fake/hash-bow"
    dimension = DIM
    max_input_tokens = 512

    def load(self) -> None:
        pass

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def _vector(self, text: str) -> list[float]:
        vec = [0.0] * DIM
        for word in re.findall(r"\w+", text.lower()):
            vec[int(hashlib.md5(word.encode()).hexdigest(), 16) % DIM] += 1.0
        norm = math.sqrt(sum(x * x for x in vec)) or 1.0
        return [x / norm for x in vec]

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [self._vector(t) for t in texts]

    def embed_query(self, text: str) -> list[float]:
        return self._vector(text)


class MemoryStore:
    """Exact cosine search over a dict; enough of ``VectorStore`` for the retrievers and ``Indexer``."""

    def __init__(self) -> None:
        self.kbs: dict[str, KnowledgeBaseInfo] = {}
        self.rows: dict[str, dict[str, tuple[Chunk, list[float]]]] = {}
        self.searches: list[int] = []

    def ensure_kb(self, kb: str, embedding_model: str, dimension: int) -> KnowledgeBaseInfo:
        info = self.kbs.setdefault(kb, KnowledgeBaseInfo(kb, embedding_model, dimension))
        self.rows.setdefault(kb, {})
        return info

    def kb_info(self, kb: str) -> KnowledgeBaseInfo:
        if kb not in self.kbs:
            raise KnowledgeBaseNotFound(kb)
        return self.kbs[kb]

    def list_kbs(self) -> list[KnowledgeBaseInfo]:
        return list(self.kbs.values())

    def drop_kb(self, kb: str) -> None:
        self.kbs.pop(kb, None)
        self.rows.pop(kb, None)

    def upsert(self, kb: str, chunks: Sequence[Chunk], vectors: Sequence[Sequence[float]]) -> None:
        for chunk, vector in zip(chunks, vectors, strict=True):
            self.rows[kb][chunk.chunk_id] = (chunk, list(vector))

    def delete(self, kb: str, *, chunk_ids: Sequence[str] | None = None, where: MetadataFilter | None = None) -> int:
        rows = self.rows.get(kb, {})
        doomed = [
            cid
            for cid, (chunk, _) in rows.items()
            if (chunk_ids is not None and cid in chunk_ids)
            or (where is not None and all(chunk.metadata().get(k) == v for k, v in where.equals.items()))
        ]
        for cid in doomed:
            del rows[cid]
        return len(doomed)

    def search(
        self,
        kb: str,
        vector: Sequence[float],
        top_k: int,
        *,
        where: MetadataFilter | None = None,
        ef_search: int | None = None,
    ) -> list[Hit]:
        if kb not in self.rows:
            raise KnowledgeBaseNotFound(kb)
        self.searches.append(top_k)
        scored = [
            (sum(a * b for a, b in zip(vector, vec, strict=True)), chunk) for chunk, vec in self.rows[kb].values()
        ]
        scored.sort(key=lambda item: -item[0])
        return [Hit(c.chunk_id, c.text, float(s), c.metadata()) for s, c in scored[:top_k]]

    def count(self, kb: str) -> int:
        return len(self.rows.get(kb, {}))

    def get(self, kb: str, chunk_ids: Sequence[str]) -> list[Hit]:
        rows = self.rows.get(kb, {})
        return [Hit(c, rows[c][0].text, 1.0, rows[c][0].metadata()) for c in chunk_ids if c in rows]

    def export(self, kb: str, batch_size: int = 512) -> Iterator[tuple[Hit, list[float]]]:
        for chunk, vector in self.rows.get(kb, {}).values():
            yield Hit(chunk.chunk_id, chunk.text, 1.0, chunk.metadata()), vector
