"""Second-stage reranking of fused candidates with a cross-encoder, local or hosted.

A cross-encoder reads question and passage together, so it judges relevance far better than
either first stage, at a cost per candidate; it therefore only sees the fused top
``candidates``. Production default: ``BAAI/bge-reranker-v2-m3`` (multilingual), run locally
by sentence-transformers or called on an OpenAI-compatible ``/rerank`` endpoint (SiliconFlow,
Jina, TEI, vLLM all speak ``{model, query, documents, top_n}`` -> ``results[{index,
relevance_score}]``). Off unless configured.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol, runtime_checkable

import httpx
from pydantic import BaseModel, Field, SecretStr

from ingest.types import Hit
from rag.errors import RerankError

log = logging.getLogger(__name__)

DEFAULT_RERANK_MODEL = "BAAI/bge-reranker-v2-m3"


@dataclass(frozen=True, slots=True)
class Scored:
    index: int  # position in the documents given to ``rerank``
    score: float


@runtime_checkable
class Reranker(Protocol):
    """Scores passages against a question, best first.

    ``rerank`` returns at most ``top_n`` (all when ``None``) ``Scored`` entries sorted by
    descending score; a higher score means more relevant (scales differ between models).
    Loading is lazy. Raises ``RerankError``.
    """

    @property
    def model_id(self) -> str: ...

    def rerank(self, query: str, documents: Sequence[str], top_n: int | None = None) -> list[Scored]: ...


def _best_first(scores: Sequence[float], top_n: int | None) -> list[Scored]:
    ranked = sorted((Scored(i, float(s)) for i, s in enumerate(scores)), key=lambda s: -s.score)
    return ranked if top_n is None else ranked[:top_n]


class CrossEncoderReranker:
    """A local sentence-transformers ``CrossEncoder``, loaded on first use."""

    def __init__(
        self,
        model_name_or_path: str = DEFAULT_RERANK_MODEL,
        *,
        model_id: str | None = None,
        device: str | None = None,
        batch_size: int = 16,
        max_length: int = 512,
        local_files_only: bool = False,
        model_kwargs: dict[str, Any] | None = None,
    ) -> None:
        self._name = model_name_or_path
        self._model_id = model_id or model_name_or_path
        self._device = device
        self._batch_size = batch_size
        self._max_length = max_length
        self._local_files_only = local_files_only
        self._model_kwargs = model_kwargs or {}
        self._model: Any = None
        self._lock = threading.Lock()

    @property
    def model_id(self) -> str:
        return self._model_id

    def load(self) -> None:
        self._loaded()

    def _loaded(self) -> Any:
        with self._lock:
            if self._model is None:
                try:
                    from sentence_transformers import CrossEncoder

                    self._model = CrossEncoder(
                        self._name,
                        device=self._device,
                        max_length=self._max_length,
                        local_files_only=self._local_files_only,
                        **self._model_kwargs,
                    )
                except Exception as exc:  # missing files, hub errors: all mean "not available"
                    raise RerankError(f"cannot load reranker {self._name!r}: {exc}") from exc
            return self._model

    def rerank(self, query: str, documents: Sequence[str], top_n: int | None = None) -> list[Scored]:
        if not documents:
            return []
        model = self._loaded()
        try:
            scores = model.predict(
                [(query, d) for d in documents], batch_size=self._batch_size, show_progress_bar=False
            )
        except Exception as exc:
            raise RerankError(f"reranking with {self._model_id!r} failed: {exc}") from exc
        return _best_first([float(s) for s in scores], top_n)


class APIReranker:
    """``POST {base_url}/rerank`` on an OpenAI-compatible server (SiliconFlow, Jina, TEI, vLLM)."""

    def __init__(
        self,
        base_url: str,
        model: str = DEFAULT_RERANK_MODEL,
        *,
        api_key: str | None = None,
        timeout_s: float = 15.0,
        client: httpx.Client | None = None,
    ) -> None:
        self._url = base_url.rstrip("/") + "/rerank"
        self._model = model
        self._api_key = api_key
        self._timeout = timeout_s
        self._client = client
        self._lock = threading.Lock()

    @property
    def model_id(self) -> str:
        return self._model

    def _http(self) -> httpx.Client:
        with self._lock:
            if self._client is None:
                self._client = httpx.Client(timeout=httpx.Timeout(self._timeout, connect=5.0))
            return self._client

    def rerank(self, query: str, documents: Sequence[str], top_n: int | None = None) -> list[Scored]:
        if not documents:
            return []
        payload: dict[str, Any] = {
            "model": self._model,
            "query": query,
            "documents": list(documents),
            "top_n": top_n if top_n is not None else len(documents),
            "return_documents": False,
        }
        headers = {"Authorization": f"Bearer {self._api_key}"} if self._api_key else {}
        try:
            response = self._http().post(self._url, json=payload, headers=headers)
        except httpx.HTTPError as exc:
            raise RerankError(f"rerank endpoint {self._url} failed: {type(exc).__name__}: {exc}") from exc
        if response.status_code >= 400:
            raise RerankError(f"rerank endpoint {self._url} answered {response.status_code}: {response.text[:300]}")
        try:
            results = response.json()["results"]
            scored = [Scored(int(r["index"]), float(r["relevance_score"])) for r in results]
        except (ValueError, KeyError, TypeError) as exc:
            raise RerankError(f"rerank endpoint {self._url} returned an unexpected body: {exc}") from exc
        if any(not 0 <= s.index < len(documents) for s in scored):
            raise RerankError(f"rerank endpoint {self._url} returned an index outside the {len(documents)} documents")
        scored.sort(key=lambda s: -s.score)
        return scored if top_n is None else scored[:top_n]


def rerank_hits(reranker: Reranker, query: str, hits: Sequence[Hit], top_n: int | None = None) -> list[Hit]:
    """``hits`` reordered by the reranker; ``Hit.score`` becomes the rerank score, the previous
    score stays in metadata (``fused_score`` or the first stage's own) and ``rerank_score`` is added.
    Hits the reranker did not return are dropped (it was asked for ``top_n`` only)."""
    scored = reranker.rerank(query, [h.text for h in hits], top_n)
    out = []
    for rank, item in enumerate(scored, start=1):
        hit = hits[item.index]
        meta = {**hit.metadata, "rerank_score": item.score, "rerank_rank": rank}
        meta.setdefault("fused_score", hit.score)
        out.append(Hit(chunk_id=hit.chunk_id, text=hit.text, score=item.score, metadata=meta))
    return out


class RerankSettings(BaseModel):
    """``RAG_RETRIEVAL__RERANK__*``: which reranker, if any, reorders the fused candidates."""

    provider: Literal["none", "cross-encoder", "api"] = "none"
    model: str = Field(DEFAULT_RERANK_MODEL, description="hub name or local path (cross-encoder), model name (api)")
    base_url: str | None = Field(None, description="OpenAI-compatible endpoint, e.g. https://api.siliconflow.cn/v1")
    api_key: SecretStr | None = None
    candidates: int = Field(30, ge=1, le=200, description="fused candidates the reranker reads")
    batch_size: int = Field(16, ge=1, le=512)
    max_length: int = Field(512, ge=32, le=8192)
    device: str | None = None
    timeout_s: float = Field(15.0, gt=0)


def build_reranker(settings: RerankSettings) -> Reranker | None:
    """The configured reranker (not loaded yet), or ``None`` when reranking is off."""
    if settings.provider == "none":
        return None
    if settings.provider == "api":
        if not settings.base_url:
            raise RerankError("rerank.provider is 'api' but rerank.base_url is not set")
        key = settings.api_key.get_secret_value() if settings.api_key else None
        return APIReranker(settings.base_url, settings.model, api_key=key, timeout_s=settings.timeout_s)
    return CrossEncoderReranker(
        settings.model, device=settings.device, batch_size=settings.batch_size, max_length=settings.max_length
    )
