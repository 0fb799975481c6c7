"""A persistent embedding cache keyed by (model, text hash), so unchanged text is never re-embedded."""

from __future__ import annotations

import hashlib
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ingest.embedders.base import Embedder, encoder_id


def text_key(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


class EmbeddingCache:
    """Vectors stored as float32 blobs in SQLite (WAL), shared by all knowledge bases."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, isolation_level=None, timeout=30, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS vectors (model TEXT, key TEXT, vector BLOB, PRIMARY KEY (model, key))"
        )
        self._lock = threading.Lock()

    def get_many(self, model: str, keys: list[str]) -> dict[str, list[float]]:
        found: dict[str, list[float]] = {}
        with self._lock:
            for start in range(0, len(keys), 500):
                part = keys[start : start + 500]
                marks = ",".join("?" for _ in part)
                rows = self._db.execute(
                    f"SELECT key, vector FROM vectors WHERE model = ? AND key IN ({marks})", (model, *part)
                ).fetchall()
                for key, blob in rows:
                    found[str(key)] = np.frombuffer(blob, dtype=np.float32).astype(float).tolist()
        return found

    def put_many(self, model: str, items: dict[str, list[float]]) -> None:
        with self._lock:
            self._db.execute("BEGIN")
            self._db.executemany(
                "INSERT OR REPLACE INTO vectors(model, key, vector) VALUES (?, ?, ?)",
                [(model, key, np.asarray(vec, dtype=np.float32).tobytes()) for key, vec in items.items()],
            )
            self._db.execute("COMMIT")

    def close(self) -> None:
        self._db.close()


class CachedEmbedder:
    """Wraps an ``Embedder``: documents already embedded by the same model come from the cache."""

    def __init__(self, inner: Embedder, cache: EmbeddingCache) -> None:
        self.inner = inner
        self.cache = cache
        self.hits = 0
        self.misses = 0

    @property
    def model_id(self) -> str:
        return self.inner.model_id

    @property
    def encoder_id(self) -> str:
        return encoder_id(self.inner)

    @property
    def dimension(self) -> int:
        return self.inner.dimension

    @property
    def max_input_tokens(self) -> int:
        return self.inner.max_input_tokens

    def load(self) -> None:
        self.inner.load()

    def count_tokens(self, text: str) -> int:
        return self.inner.count_tokens(text)

    def embed_query(self, text: str) -> list[float]:
        return self.inner.embed_query(text)

    def embed_queries(self, texts: list[str]) -> list[list[float]]:
        return self.inner.embed_queries(texts)

    def submit_documents(self, texts: list[str]) -> Callable[[], list[list[float]]]:
        """``embed_documents`` started now, its vectors returned by the call it gives back: the
        texts not in the cache go to the inner embedder's ``submit_documents`` when it has one
        (and to its ``embed_documents`` when the vectors are asked for, otherwise)."""
        keys = [text_key(t) for t in texts]
        cached = self.cache.get_many(self.encoder_id, list(dict.fromkeys(keys)))
        missing: dict[str, str] = {}
        for key, text in zip(keys, texts, strict=True):
            if key not in cached:
                missing.setdefault(key, text)
        submit = getattr(self.inner, "submit_documents", None)
        pending = submit(list(missing.values())) if missing and callable(submit) else None

        def result() -> list[list[float]]:
            if missing:
                vectors = pending() if pending is not None else self.inner.embed_documents(list(missing.values()))
                fresh = dict(zip(missing, vectors, strict=True))
                self.cache.put_many(self.encoder_id, fresh)
                cached.update(fresh)
            self.misses += len(missing)
            self.hits += len(texts) - len(missing)
            return [cached[key] for key in keys]

        return result

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.submit_documents(texts)()
