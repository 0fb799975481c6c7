"""Bocha Web Search: ``POST {base}/v1/web-search`` with ``Authorization: Bearer <key>``.

Success bodies are ``{code: 200, msg, data}`` with Bing-shaped ``data.webPages.value``; error
bodies carry ``code`` as a string and ``message`` instead of ``msg``.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import httpx
from pydantic import BaseModel, ConfigDict, ValidationError

from search_proxy.errors import (
    ProviderAuthError,
    ProviderBadResponse,
    ProviderError,
    ProviderRateLimited,
    ProviderUnavailable,
)
from search_proxy.models import ProviderAnswer, ProviderHit, ProviderQuery
from search_proxy.providers.base import clean_text, host_of, is_web_url, parse_datetime
from search_proxy.settings import BochaSettings
from search_proxy.upstream import Upstream, body_excerpt, excerpt, json_body, status_error

_FRESHNESS = {"day": "oneDay", "week": "oneWeek", "month": "oneMonth", "year": "oneYear"}
_CHINA = timezone(timedelta(hours=8))
MAX_COUNT = 50


class _Page(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: str | None = None
    url: str | None = None
    snippet: str | None = None
    summary: str | None = None
    siteName: str | None = None  # noqa: N815 - the wire name
    datePublished: str | None = None  # noqa: N815
    dateLastCrawled: str | None = None  # noqa: N815


class _WebPages(BaseModel):
    model_config = ConfigDict(extra="ignore")

    value: list[_Page] = []


class _Data(BaseModel):
    model_config = ConfigDict(extra="ignore")

    webPages: _WebPages | None = None  # noqa: N815


class _Response(BaseModel):
    model_config = ConfigDict(extra="ignore")

    code: int | str | None = None
    msg: str | None = None
    message: str | None = None
    data: _Data | None = None


def _crawl_date(value: str | None) -> datetime | None:
    """``dateLastCrawled`` is Beijing time despite its ``Z`` suffix, so re-zone it."""
    parsed = parse_datetime(value)
    if parsed is None:
        return None
    return parsed.replace(tzinfo=_CHINA)


def _body_error(status: int | None, code: str, message: str) -> ProviderError:
    text = f"code {code}: {message}" if message else f"code {code}"
    if code in ("401", "403") or "API KEY" in message.upper():
        return ProviderAuthError("bocha", text, status=status)
    if code == "429":
        return ProviderRateLimited("bocha", text, status=status)
    if code.startswith("5"):
        return ProviderUnavailable("bocha", text, status=status)
    return ProviderBadResponse("bocha", text, status=status)


def _error(response: httpx.Response) -> ProviderError:
    try:
        body = response.json()
    except ValueError:
        return status_error("bocha", response, body_excerpt(response))
    if not isinstance(body, dict):
        return status_error("bocha", response, "")
    message = excerpt(body.get("message") or body.get("msg") or "")
    if response.status_code == 429:
        return status_error("bocha", response, message)
    return _body_error(response.status_code, str(body.get("code", response.status_code)), message)


class BochaProvider:
    name = "bocha"

    def __init__(self, settings: BochaSettings, upstream: Upstream) -> None:
        if settings.base_url is None or settings.api_key is None:
            raise ValueError("bocha needs base_url and api_key")
        self._settings = settings
        self._upstream = upstream
        self._url = f"{settings.base_url}/v1/web-search"

    async def search(self, query: ProviderQuery) -> ProviderAnswer:
        assert self._settings.api_key is not None
        body = {
            "query": query.q,
            "count": min(query.k, MAX_COUNT),
            "freshness": _FRESHNESS.get(query.freshness or "", "noLimit"),
            "summary": False,
        }
        headers = {"Authorization": f"Bearer {self._settings.api_key.get_secret_value()}"}
        response = await self._upstream.request(
            "POST", self._url, json=body, headers=headers, error_mapper=_error, deadline=query.deadline
        )
        try:
            data = _Response.model_validate(json_body(self.name, response))
        except ValidationError as exc:
            raise ProviderBadResponse(self.name, "response is not a Bocha search body") from exc
        # The status normally matches the body; should a 200 ever carry an error code, the body wins.
        if data.code is not None and str(data.code) != "200":
            raise _body_error(response.status_code, str(data.code), data.message or data.msg or "")
        pages = data.data.webPages.value if data.data and data.data.webPages else []
        hits = [
            ProviderHit(
                title=clean_text(page.name) or page.url,
                url=page.url,
                snippet=clean_text(page.snippet or page.summary),
                published_at=parse_datetime(page.datePublished) or _crawl_date(page.dateLastCrawled),
                site=page.siteName or host_of(page.url),
            )
            for page in pages
            if page.url and is_web_url(page.url)
        ]
        return ProviderAnswer(hits=hits[: query.k])
