"""The ``Embedder`` Protocol: texts in, unit-length vectors out."""

from __future__ import annotations

from typing import Literal, Protocol, runtime_checkable

EncoderBackend = Literal["auto", "torch", "onnx"]
"""What runs a local model: torch, its ONNX int8 copy, or ``auto`` (ONNX on a CPU, torch on a GPU)."""


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into vectors for cosine search.

    ``embed_documents`` is the core method; ``embed_query`` may prepend the model's query
    instruction. Vectors are L2-normalised. Loading is lazy: constructing an embedder never
    loads a model or dials a server. Raises ``EmbeddingError``.
    """

    @property
    def model_id(self) -> str:
        """The name a knowledge base records, e.g. ``BAAI/bge-m3``."""
        ...

    @property
    def dimension(self) -> int:
        """Vector length (may load the model to find out)."""
        ...

    @property
    def max_input_tokens(self) -> int:
        """Longest input the model reads before truncating; chunks are sized below it."""
        ...

    def load(self) -> None:
        """Load the model or check the endpoint now; raises ``EmbeddingError`` when it cannot be had."""
        ...

    def embed_documents(self, texts: list[str]) -> list[list[float]]: ...

    def embed_query(self, text: str) -> list[float]: ...

    def embed_queries(self, texts: list[str]) -> list[list[float]]:
        """``embed_query`` of each text, in one pass where the model allows (a server's
        questions are batched: ``rag.retrieval.query_batcher``)."""
        ...

    def count_tokens(self, text: str) -> int:
        """Length of ``text`` in the model's own tokens, used to size chunks."""
        ...


def encoder_id(embedder: Embedder) -> str:
    """``model_id``, marked with the backend when it is not torch (``…#onnx-int8``): vectors of
    one encoder id are interchangeable, so it is what caches key them by."""
    return str(getattr(embedder, "encoder_id", embedder.model_id))
