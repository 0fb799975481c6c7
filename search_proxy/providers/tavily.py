"""Tavily Search: ``POST {base}/search`` with ``Authorization: Bearer tvly-…``.

Errors are ``{"detail": {"error": "…"}}`` (422 carries a validation array instead); 432 and 433
are plan and pay-as-you-go limits that will not clear by retrying.
"""

from __future__ import annotations

from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict, ValidationError

from search_proxy.errors import ProviderAuthError, ProviderBadResponse, ProviderError
from search_proxy.models import ProviderAnswer, ProviderHit, ProviderQuery
from search_proxy.providers.base import clean_text, host_of, is_web_url, parse_datetime
from search_proxy.settings import TavilySettings
from search_proxy.upstream import Upstream, body_excerpt, excerpt, json_body, status_error

MAX_RESULTS = 20


class _Result(BaseModel):
    model_config = ConfigDict(extra="ignore")

    title: str | None = None
    url: str | None = None
    content: str | None = None
    published_date: str | None = None
    score: float | None = None


class _Response(BaseModel):
    model_config = ConfigDict(extra="ignore")

    results: list[_Result]


def _detail(body: Any) -> str:
    if not isinstance(body, dict):
        return ""
    detail = body.get("detail")
    if isinstance(detail, dict):
        return excerpt(detail.get("error") or "")
    if isinstance(detail, list):
        return excerpt(
            "; ".join(str(item.get("msg", item)) if isinstance(item, dict) else str(item) for item in detail)
        )
    return excerpt(detail or "")


def _error(response: httpx.Response) -> ProviderError:
    try:
        message = _detail(response.json())
    except ValueError:
        message = body_excerpt(response)
    status = response.status_code
    if status in (432, 433):
        return ProviderAuthError("tavily", f"HTTP {status}: usage limit: {message}", status=status)
    return status_error("tavily", response, message)


class TavilyProvider:
    name = "tavily"

    def __init__(self, settings: TavilySettings, upstream: Upstream) -> None:
        if settings.base_url is None or settings.api_key is None:
            raise ValueError("tavily needs base_url and api_key")
        self._settings = settings
        self._upstream = upstream
        self._url = f"{settings.base_url}/search"

    async def search(self, query: ProviderQuery) -> ProviderAnswer:
        assert self._settings.api_key is not None
        body: dict[str, Any] = {
            "query": query.q,
            "max_results": min(query.k, MAX_RESULTS),
            "search_depth": self._settings.search_depth,
            "topic": self._settings.topic,
            "include_answer": False,
            "include_raw_content": False,
        }
        if query.freshness:
            body["time_range"] = query.freshness
        headers = {"Authorization": f"Bearer {self._settings.api_key.get_secret_value()}"}
        response = await self._upstream.request(
            "POST", self._url, json=body, headers=headers, error_mapper=_error, deadline=query.deadline
        )
        try:
            data = _Response.model_validate(json_body(self.name, response))
        except ValidationError as exc:
            raise ProviderBadResponse(self.name, "response is not a Tavily search body") from exc
        hits = [
            ProviderHit(
                title=clean_text(item.title) or item.url,
                url=item.url,
                snippet=clean_text(item.content),
                published_at=parse_datetime(item.published_date),
                site=host_of(item.url),
            )
            for item in data.results
            if item.url and is_web_url(item.url)
        ]
        return ProviderAnswer(hits=hits[: query.k])
