"""Client of the search proxy service, used by the orchestrator for web results.

It speaks HTTP only (the proxy runs as its own process at the network edge) and turns every
failure into ``WebSearchError`` so the orchestrator can answer from the knowledge base alone.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from types import TracebackType
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from rag.errors import WebSearchError
from servicekit.formatting import seconds
from servicekit.request_ids import REQUEST_ID_HEADER, current_request_id

KEY_HEADER = "X-Search-Proxy-Key"


class WebResult(BaseModel):
    """One web result as the proxy returns it; ``content`` is set only for fetched pages."""

    model_config = ConfigDict(extra="ignore")

    rank: int
    title: str
    url: str
    snippet: str = ""
    published_at: datetime | None = None
    site: str | None = None
    content: str | None = None


class WebSearchResponse(BaseModel):
    """Mirror of the proxy's ``/search`` response (unknown fields are ignored for forward compatibility)."""

    model_config = ConfigDict(extra="ignore")

    query: str
    provider: str | None
    results: list[WebResult]
    cached: bool = False
    took_ms: int = 0
    warnings: list[str] = Field(default_factory=list)


class SearchProxyClient:
    """Async client of ``POST /search``. Pass an ``httpx.AsyncClient`` to share a pool or inject a transport."""

    def __init__(
        self,
        base_url: str,
        api_key: str | None,
        client: httpx.AsyncClient | None = None,
        timeout_s: float = 15.0,
    ) -> None:
        self._base_url = base_url.rstrip("/")
        self._api_key = api_key
        self._client = client
        self._owns_client = client is None
        self._timeout_s = timeout_s

    def __repr__(self) -> str:
        return f"SearchProxyClient(base_url={self._base_url!r}, api_key={'set' if self._api_key else None})"

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(trust_env=False)
        return self._client

    async def aclose(self) -> None:
        if self._owns_client and self._client is not None:
            await self._client.aclose()
            self._client = None

    async def __aenter__(self) -> SearchProxyClient:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def search(self, query: str, *, k: int, lang: str | None, fetch: int, deadline_s: float) -> WebSearchResponse:
        """Search via the proxy within ``deadline_s`` seconds; raises ``WebSearchError`` on any failure.

        ``fetch`` is the number of top pages whose text the proxy should fetch (0 for none); the
        deadline is forwarded so the proxy cuts page fetching short instead of making us time out.
        """
        if deadline_s <= 0:
            raise WebSearchError("deadline_s must be positive")
        budget = min(deadline_s, self._timeout_s)
        body: dict[str, Any] = {"q": query, "k": k, "fetch": fetch, "deadline_s": budget}
        if lang:
            body["lang"] = lang
        headers = {KEY_HEADER: self._api_key} if self._api_key else {}
        request_id = current_request_id()
        if request_id:
            headers[REQUEST_ID_HEADER] = request_id  # one id across both services' logs
        try:
            async with asyncio.timeout(budget):
                response = await self._http().post(
                    f"{self._base_url}/search", json=body, headers=headers, timeout=httpx.Timeout(budget)
                )
        except (TimeoutError, httpx.TimeoutException) as exc:
            raise WebSearchError(f"search proxy did not answer within {seconds(budget)}") from exc
        except httpx.ConnectError as exc:
            raise WebSearchError(f"search proxy unreachable: {type(exc).__name__}") from exc
        except httpx.HTTPError as exc:
            raise WebSearchError(f"search proxy connection failed: {type(exc).__name__}") from exc
        if response.status_code != 200:
            raise WebSearchError(f"search proxy returned HTTP {response.status_code}: {_error_message(response)}")
        try:
            return WebSearchResponse.model_validate_json(response.content)
        except ValidationError as exc:
            raise WebSearchError("search proxy returned a malformed response") from exc


def _error_message(response: httpx.Response) -> str:
    """``code: message`` from the proxy's error shape; the start of the body for anything else."""
    try:
        error = response.json().get("error")
        if isinstance(error, dict) and error.get("message"):
            return f"{error.get('code', 'error')}: {error['message']}"
    except (ValueError, AttributeError):
        pass
    return " ".join(response.text[:200].split()) or response.reason_phrase
