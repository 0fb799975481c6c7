"""In-memory embedder and vector store that honour the real Protocols, for retrieval unit tests."""

from __future__ import annotations

import hashlib
import math
import re

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

    def embed_queries(self, texts: list[str]) -> list[list[float]]:
        return [self._vector(t) for t in texts]
