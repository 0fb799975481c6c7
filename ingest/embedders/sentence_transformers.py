"""Local embedding models run by sentence-transformers (BGE-M3 in production)."""

from __future__ import annotations

import logging
import threading
from functools import lru_cache
from pathlib import Path
from typing import Any

from ingest.embedders.base import EncoderBackend
from ingest.errors import EmbeddingError

log = logging.getLogger(__name__)

# Query instructions of model families that were trained with one; BGE-M3 and MiniLM use none.
_QUERY_PREFIXES: dict[str, str] = {
    "bge-small-en": "Represent this sentence for searching relevant passages: ",
    "bge-base-en": "Represent this sentence for searching relevant passages: ",
    "bge-large-en": "Represent this sentence for searching relevant passages: ",
    "bge-small-zh": "为这个句子生成表示以用于检索相关文章：",
    "bge-base-zh": "为这个句子生成表示以用于检索相关文章：",
    "bge-large-zh": "为这个句子生成表示以用于检索相关文章：",
    "e5-": "query: ",
}
_PASSAGE_PREFIXES: dict[str, str] = {"e5-": "passage: "}

# Most padded tokens (inputs x the longest of them) in one batch on a CPU. A transformer's
# activations grow with the tokens of a batch; once they outgrow the CPU caches every layer waits
# on memory. Against batches of 32 inputs, a bound of 2,048 tokens took 0.90 of the time on
# MiniLM over SciFact chunks and 0.64 on an encoder of BGE-M3's shape (``bench/bench_batch_shapes.py``;
# 1,024 to 4,096 all came close). GPUs want the largest batch that fits, so there only
# ``batch_size`` bounds a batch.
CPU_BATCH_TOKENS = 2048


def token_sorted_batches(lengths: list[int], size: int, budget: int | None) -> list[list[int]]:
    """Positions of inputs of the given token ``lengths`` in batches, longest first.

    A batch ends at ``size`` inputs or when one more would take its padded size (inputs x the
    longest, which comes first) past ``budget``: long inputs go in small batches, short ones in
    large batches.
    """
    batches: list[list[int]] = []
    current: list[int] = []
    for i in sorted(range(len(lengths)), key=lambda i: -lengths[i]):
        if current and (
            len(current) >= size or (budget is not None and (len(current) + 1) * lengths[current[0]] > budget)
        ):
            batches.append(current)
            current = []
        current.append(i)
    if current:
        batches.append(current)
    return batches


def _prefix_for(model_id: str, table: dict[str, str]) -> str:
    lowered = model_id.lower()
    return next((prefix for key, prefix in table.items() if key in lowered), "")


class SentenceTransformerEmbedder:
    """Embeds with a sentence-transformers model, loaded on first use.

    ``model_name_or_path`` is a hub name (``BAAI/bge-m3``) or a local directory. ``model_id``
    is what the knowledge base records: the hub name, or ``model_id`` given explicitly for a
    local copy so that a path change does not look like a model change.

    ``backend`` runs the encoder in torch, or as its ONNX int8 copy (``ingest.embedders.onnx_export``,
    exported once per weights under ``onnx_cache``); ``auto`` is ONNX when the model is on a CPU
    and torch on a GPU. The two give vectors within a cosine of ~0.995 of each other, so a
    knowledge base built by one is searched well by the other; the embedding cache still keeps
    their vectors apart (``encoder_id``).
    """

    def __init__(
        self,
        model_name_or_path: str,
        *,
        model_id: str | None = None,
        device: str | None = None,
        batch_size: int = 32,
        batch_tokens: int | None = None,
        max_seq_length: int | None = None,
        local_files_only: bool = False,
        query_prefix: str | None = None,
        passage_prefix: str | None = None,
        backend: EncoderBackend = "torch",
        onnx_cache: Path | None = None,
    ) -> None:
        self._name = model_name_or_path
        self._backend = backend
        self._onnx_cache = onnx_cache
        self._onnx_path: Path | None = None
        self._model_id = model_id or model_name_or_path
        self._device = device
        self._batch_size = batch_size
        self._batch_tokens = batch_tokens
        self._max_seq_length = max_seq_length
        self._local_files_only = local_files_only
        self._query_prefix = query_prefix if query_prefix is not None else _prefix_for(self._model_id, _QUERY_PREFIXES)
        self._passage_prefix = (
            passage_prefix if passage_prefix is not None else _prefix_for(self._model_id, _PASSAGE_PREFIXES)
        )
        self._model: Any = None
        self._lock = threading.Lock()
        # The chunker counts the same heading and paragraph texts several times per document.
        self._count_cached = lru_cache(maxsize=8192)(self._count_uncached)
        self._counter: Any = None  # tokenizers.Tokenizer, or False when the model has none

    @property
    def model_id(self) -> str:
        return self._model_id

    @property
    def encoder_id(self) -> str:
        """``model_id``, marked when the ONNX int8 copy encodes: what keys the embedding cache."""
        self._loaded()
        return f"{self._model_id}#onnx-int8" if self._onnx_path else self._model_id

    @property
    def backend(self) -> str:
        """``onnx`` or ``torch``: what runs the encoder once loaded."""
        self._loaded()
        return "onnx" if self._onnx_path else "torch"

    def load(self) -> None:
        """Load the model now (``warm_up``); raises ``EmbeddingError`` when it cannot be had."""
        self._loaded()

    @property
    def loaded(self) -> bool:
        return self._model is not None

    def _loaded(self) -> Any:
        with self._lock:
            if self._model is None:
                try:
                    from sentence_transformers import SentenceTransformer
                    from transformers.utils import logging as hf_logging

                    hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]  # a weight-loading bar is noise in CLI and server logs

                    model = SentenceTransformer(
                        self._name, device=self._device, local_files_only=self._local_files_only
                    )
                except Exception as exc:  # OSError, HTTP errors, missing files: all mean "not available"
                    raise EmbeddingError(f"cannot load embedding model {self._name!r}: {exc}") from exc
                if self._max_seq_length:
                    model.max_seq_length = min(self._max_seq_length, model.max_seq_length or self._max_seq_length)
                self._maybe_onnx(model)
                self._model = model
                log.info(
                    "loaded embedding model %s (%s-d, %s)",
                    self._model_id,
                    model.get_embedding_dimension(),
                    "ONNX int8" if self._onnx_path else "torch",
                )
            return self._model

    def _maybe_onnx(self, model: Any) -> None:
        """Swap the encoder for its ONNX int8 copy when the backend asks for it."""
        on_cpu = getattr(getattr(model, "device", None), "type", "cpu") == "cpu"
        if self._backend == "torch" or (self._backend == "auto" and not on_cpu):
            return
        from ingest.embedders.onnx_export import use_onnx

        try:
            if not on_cpu:
                raise EmbeddingError("the ONNX int8 encoder runs on a CPU; this model is on " + str(model.device))
            if self._onnx_cache is None:
                raise EmbeddingError("no cache directory for the ONNX export (embedding.onnx_cache)")
            self._onnx_path = use_onnx(model, self._weights_dir(), self._onnx_cache)
        except Exception as exc:
            if self._backend == "onnx":
                raise EmbeddingError(f"cannot run {self._model_id!r} as ONNX int8: {exc}") from exc
            log.warning("ONNX int8 encoder unavailable for %s, using torch: %s", self._model_id, exc)

    def _weights_dir(self) -> Path:
        """The local folder of the model's files: the path given, or its snapshot in the hub cache."""
        local = Path(self._name).expanduser()
        if local.exists():
            return local
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(self._name, local_files_only=True))

    @property
    def dimension(self) -> int:
        model = self._loaded()
        dim = model.get_embedding_dimension()
        if dim is None:
            raise EmbeddingError(f"model {self._name!r} does not report its embedding dimension")
        return int(dim)

    @property
    def max_input_tokens(self) -> int:
        return int(self._loaded().max_seq_length or 512)

    def count_tokens(self, text: str) -> int:
        return self._count_cached(text)

    def _count_uncached(self, text: str) -> int:
        counter = self._token_counter()
        if counter is not None:
            return len(counter.encode(text, add_special_tokens=False).ids)
        tokenizer = self._loaded().tokenizer
        return len(tokenizer(text, add_special_tokens=False, truncation=False, verbose=False)["input_ids"])

    def _token_counter(self) -> Any:
        """A private copy of the Rust tokenizer without truncation or padding, or None.

        The model's own tokenizer carries truncation state that encoding sets on every call,
        so counting through it pays the Python wrapper on every call; a copy does not.
        """
        if self._counter is None:
            backend = getattr(self._loaded().tokenizer, "backend_tokenizer", None)
            if backend is None:
                self._counter = False
            else:
                from tokenizers import Tokenizer

                counter = Tokenizer.from_str(backend.to_str())
                counter.no_truncation()
                counter.no_padding()
                self._counter = counter
        return self._counter or None

    def tokenizer_json(self) -> str | None:
        """The model's fast tokenizer, serialised (``tokenizers.Tokenizer.to_str``), so a process
        without the model counts tokens exactly as ``count_tokens`` does; None when it has none."""
        counter = self._token_counter()
        return None if counter is None else str(counter.to_str())

    @property
    def batch_tokens(self) -> int | None:
        """The padded-token bound of a batch: as configured (0: none), else by the model's device."""
        if self._batch_tokens is not None:
            return self._batch_tokens or None
        device = getattr(self._loaded(), "device", None)
        return CPU_BATCH_TOKENS if getattr(device, "type", "cpu") == "cpu" else None

    def _special_tokens(self) -> int:
        """Tokens the model adds around every input ([CLS]/[SEP], <s>/</s>): part of a batch's padded size."""
        tokenizer = getattr(self._loaded(), "tokenizer", None)
        count = getattr(tokenizer, "num_special_tokens_to_add", None)
        return int(count()) if callable(count) else 2

    def _token_sorted_batches(self, texts: list[str]) -> list[list[int]]:
        """Positions of ``texts`` in batches, longest first by model tokens.

        Every batch is padded to its longest input. sentence-transformers groups inputs by
        character count, which tracks token count loosely (digits, symbols, CJK and long words
        tokenize at very different rates): on SciFact chunks that pads the batches to 1.19 times
        the real token count, against 1.002 when sorted by tokens. Counts come from
        ``count_tokens``, whose cache already holds those of a window sorted by ``embed_window``.
        Lengths past the model's input limit are truncated anyway, so they sort as equal.

        Batches are bounded by ``batch_size`` inputs and ``batch_tokens`` padded tokens.
        """
        limit = self.max_input_tokens
        specials = self._special_tokens()
        lengths = [min(self.count_tokens(text) + specials, limit) for text in texts]
        return token_sorted_batches(lengths, self._batch_size, self.batch_tokens)

    def _encode(self, texts: list[str]) -> list[list[float]]:
        if not texts:
            return []
        model = self._loaded()
        vectors: list[list[float]] = [[] for _ in texts]
        try:
            for batch in self._token_sorted_batches(texts) if len(texts) > 1 else [[0]]:
                encoded = model.encode(
                    [texts[i] for i in batch],
                    batch_size=len(batch),
                    normalize_embeddings=True,
                    convert_to_numpy=True,
                    show_progress_bar=False,
                )
                for i, row in zip(batch, encoded, strict=True):
                    vectors[i] = row.tolist()
        except EmbeddingError:
            raise
        except Exception as exc:
            raise EmbeddingError(f"embedding with {self._model_id!r} failed: {exc}") from exc
        return vectors

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self._encode([self._passage_prefix + t for t in texts])

    def embed_query(self, text: str) -> list[float]:
        return self._encode([self._query_prefix + text])[0]

    def embed_queries(self, texts: list[str]) -> list[list[float]]:
        return self._encode([self._query_prefix + t for t in texts])
