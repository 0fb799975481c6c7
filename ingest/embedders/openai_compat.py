"""Embeddings from an OpenAI-compatible ``/v1/embeddings`` endpoint (SiliconFlow, TEI, Ollama, vLLM)."""

from __future__ import annotations

import math
import threading

import httpx
from tenacity import retry, retry_if_exception, stop_after_attempt, wait_exponential_jitter

from ingest.embedders.tokens import estimate_tokens
from ingest.errors import EmbeddingError


class _Retryable(Exception):
    """A transient failure worth another try (connection error, 429, 5xx)."""


def _normalise(vector: list[float]) -> list[float]:
    norm = math.sqrt(sum(x * x for x in vector))
    return [x / norm for x in vector] if norm > 0 else vector


class OpenAIEmbedder:
    """Calls ``POST {base_url}/embeddings`` in batches; vectors are re-normalised locally.

    The dimension is configured or probed once with a one-word request. Token counts are
    estimated (the tokenizer lives on the server), erring high so chunks stay under
    ``max_input_tokens``.
    """

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key: str | None = None,
        dimension: int | None = None,
        batch_size: int = 32,
        max_input_tokens: int = 512,
        timeout_s: float = 60.0,
        max_attempts: int = 4,
        query_prefix: str = "",
        passage_prefix: str = "",
        client: httpx.Client | None = None,
    ) -> None:
        self._url = base_url.rstrip("/") + "/embeddings"
        self._model = model
        self._api_key = api_key
        self._dimension = dimension
        self._batch_size = batch_size
        self._max_input_tokens = max_input_tokens
        self._timeout = timeout_s
        self._max_attempts = max_attempts
        self._query_prefix = query_prefix
        self._passage_prefix = passage_prefix
        self._client = client
        self._lock = threading.Lock()

    @property
    def model_id(self) -> str:
        return self._model

    @property
    def dimension(self) -> int:
        if self._dimension is None:
            self._dimension = len(self._request(["dimension probe"])[0])
        return self._dimension

    @property
    def max_input_tokens(self) -> int:
        return self._max_input_tokens

    def count_tokens(self, text: str) -> int:
        return estimate_tokens(text)

    def load(self) -> None:
        """Check the endpoint answers (probes the dimension)."""
        _ = self.dimension

    def _http(self) -> httpx.Client:
        with self._lock:
            if self._client is None:
                self._client = httpx.Client(timeout=httpx.Timeout(self._timeout, connect=10.0))
            return self._client

    def _request(self, texts: list[str]) -> list[list[float]]:
        headers = {"Authorization": f"Bearer {self._api_key}"} if self._api_key else {}
        payload = {"model": self._model, "input": texts, "encoding_format": "float"}

        @retry(
            retry=retry_if_exception(lambda e: isinstance(e, _Retryable)),
            stop=stop_after_attempt(self._max_attempts),
            wait=wait_exponential_jitter(initial=0.5, max=8.0),
            reraise=True,
        )
        def call() -> httpx.Response:
            try:
                response = self._http().post(self._url, json=payload, headers=headers)
            except httpx.TransportError as exc:
                raise _Retryable(f"{type(exc).__name__}: {exc}") from exc
            if response.status_code == 429 or response.status_code >= 500:
                raise _Retryable(f"HTTP {response.status_code}: {response.text[:200]}")
            return response

        try:
            response = call()
        except _Retryable as exc:
            raise EmbeddingError(f"embeddings endpoint {self._url} failed after retries: {exc}") from exc
        if response.status_code >= 400:
            raise EmbeddingError(
                f"embeddings endpoint {self._url} answered {response.status_code}: {response.text[:300]}"
            )
        try:
            data = sorted(response.json()["data"], key=lambda item: item.get("index", 0))
            vectors = [_normalise([float(x) for x in item["embedding"]]) for item in data]
        except (ValueError, KeyError, TypeError) as exc:
            raise EmbeddingError(f"embeddings endpoint {self._url} returned an unexpected body: {exc}") from exc
        if len(vectors) != len(texts):
            raise EmbeddingError(f"embeddings endpoint returned {len(vectors)} vectors for {len(texts)} inputs")
        return vectors

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        out: list[list[float]] = []
        for start in range(0, len(texts), self._batch_size):
            out.extend(self._request([self._passage_prefix + t for t in texts[start : start + self._batch_size]]))
        if out and self._dimension is None:
            self._dimension = len(out[0])
        return out

    def embed_query(self, text: str) -> list[float]:
        return self._request([self._query_prefix + text])[0]

    def embed_queries(self, texts: list[str]) -> list[list[float]]:
        out: list[list[float]] = []
        for start in range(0, len(texts), self._batch_size):
            out.extend(self._request([self._query_prefix + t for t in texts[start : start + self._batch_size]]))
        return out
