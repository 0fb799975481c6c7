"""SearXNG JSON API (self-hosted, no key): ``GET {base}/search?q=…&format=json``.

The instance must list ``json`` in ``search.formats`` (otherwise it answers 403 with an HTML
page) and should run with ``server.limiter: false`` (otherwise bots get a plain-text 429).
"""

from __future__ import annotations

from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict, ValidationError

from search_proxy.errors import ProviderBadResponse, ProviderError, ProviderUnavailable
from search_proxy.models import ProviderAnswer, ProviderHit, ProviderQuery
from search_proxy.providers.base import clean_text, host_of, is_web_url, parse_datetime
from search_proxy.settings import SearxngSettings
from search_proxy.upstream import Upstream, body_excerpt, excerpt, json_body, status_error


class _Result(BaseModel):
    model_config = ConfigDict(extra="ignore")

    url: str | None = None
    title: str | None = None
    content: str | None = None
    publishedDate: str | None = None  # noqa: N815 - the wire name
    parsed_url: list[str] | None = None
    score: float | None = None


class _Response(BaseModel):
    model_config = ConfigDict(extra="ignore")

    results: list[_Result]
    unresponsive_engines: list[Any] = []


def _error(response: httpx.Response) -> ProviderError:
    status = response.status_code
    if status == 403:
        return ProviderUnavailable(
            "searxng",
            "HTTP 403: json format is not enabled (search.formats in settings.yml)",
            status=status,
            retryable=False,
        )
    message = ""
    try:
        body = response.json()
        if isinstance(body, dict):
            message = excerpt(body.get("error", ""))
    except ValueError:
        message = body_excerpt(response)
    return status_error("searxng", response, message)


class SearxngProvider:
    """SearXNG has no count parameter, so the page it returns is sorted by score and trimmed to k."""

    name = "searxng"

    def __init__(self, settings: SearxngSettings, upstream: Upstream) -> None:
        if settings.base_url is None:
            raise ValueError("searxng.base_url is not set")
        self._settings = settings
        self._upstream = upstream
        self._url = f"{settings.base_url}/search"

    async def search(self, query: ProviderQuery) -> ProviderAnswer:
        params: dict[str, str | int] = {
            "q": query.q,
            "format": "json",
            "pageno": 1,
            "safesearch": self._settings.safesearch,
            "categories": self._settings.categories,
        }
        if self._settings.engines:
            params["engines"] = self._settings.engines
        if query.lang:
            params["language"] = query.lang
        if query.freshness:
            params["time_range"] = query.freshness
        response = await self._upstream.request(
            "GET", self._url, params=params, error_mapper=_error, deadline=query.deadline
        )
        try:
            data = _Response.model_validate(json_body(self.name, response))
        except ValidationError as exc:
            raise ProviderBadResponse(self.name, "response is not SearXNG JSON (no results list)") from exc
        ranked = sorted(data.results, key=lambda r: -(r.score or 0.0))
        hits: list[ProviderHit] = []
        for item in ranked:
            if not item.url or not is_web_url(item.url):
                continue
            site = item.parsed_url[1] if item.parsed_url and len(item.parsed_url) > 1 else host_of(item.url)
            hits.append(
                ProviderHit(
                    title=clean_text(item.title) or item.url,
                    url=item.url,
                    snippet=clean_text(item.content),
                    published_at=parse_datetime(item.publishedDate),
                    site=site or None,
                )
            )
            if len(hits) >= query.k:
                break
        notes = [_engine_note(entry) for entry in data.unresponsive_engines]
        return ProviderAnswer(hits=hits, notes=[note for note in notes if note])


def _engine_note(entry: Any) -> str:
    if isinstance(entry, list | tuple) and len(entry) >= 2:
        return f"searxng engine {entry[0]} unresponsive: {entry[1]}"
    return ""
