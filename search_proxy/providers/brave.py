"""Brave Search web API: ``GET {base}/res/v1/web/search`` with ``X-Subscription-Token``.

Errors come as ``{"type": "ErrorResponse", "error": {"code", "detail", ...}}``; an invalid key is
a 422 ``SUBSCRIPTION_TOKEN_INVALID`` rather than a 401. Rate-limit headers are comma lists with
one entry per window (per second, per month).
"""

from __future__ import annotations

from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict, ValidationError

from search_proxy.errors import ProviderAuthError, ProviderBadResponse, ProviderError, ProviderRateLimited
from search_proxy.models import ProviderAnswer, ProviderHit, ProviderQuery
from search_proxy.providers.base import clean_text, host_of, is_web_url, parse_datetime
from search_proxy.settings import BraveSettings
from search_proxy.upstream import Upstream, excerpt, json_body, parse_retry_after, status_error

_FRESHNESS = {"day": "pd", "week": "pw", "month": "pm", "year": "py"}
# Brave's search_lang codes differ from BCP 47 for Chinese, Japanese, Norwegian and Portuguese,
# and only en-gb/pt-br/pt-pt keep a region; everything else is the bare primary subtag.
_LANG = {
    "zh": "zh-hans",
    "zh-cn": "zh-hans",
    "zh-sg": "zh-hans",
    "zh-hans": "zh-hans",
    "zh-tw": "zh-hant",
    "zh-hk": "zh-hant",
    "zh-hant": "zh-hant",
    "ja": "jp",
    "no": "nb",
    "pt": "pt-br",
    "pt-br": "pt-br",
    "pt-pt": "pt-pt",
    "en-gb": "en-gb",
}
_AUTH_CODES = {"SUBSCRIPTION_TOKEN_INVALID", "SUBSCRIPTION_NOT_FOUND", "SUBSCRIPTION_EXPIRED"}
MAX_COUNT = 20


class _Profile(BaseModel):
    model_config = ConfigDict(extra="ignore")
    name: str | None = None


class _MetaUrl(BaseModel):
    model_config = ConfigDict(extra="ignore")
    hostname: str | None = None


class _Result(BaseModel):
    model_config = ConfigDict(extra="ignore")

    title: str | None = None
    url: str | None = None
    description: str | None = None
    page_age: str | None = None
    profile: _Profile | None = None
    meta_url: _MetaUrl | None = None


class _Web(BaseModel):
    model_config = ConfigDict(extra="ignore")
    results: list[_Result] = []


class _Response(BaseModel):
    model_config = ConfigDict(extra="ignore")
    type: str | None = None
    web: _Web | None = None


def brave_lang(lang: str) -> str:
    return _LANG.get(lang.lower(), lang.split("-")[0].lower())


def reset_seconds(response: httpx.Response) -> float | None:
    """Seconds until the exhausted window resets, from ``X-RateLimit-Remaining``/``-Reset`` lists."""
    resets = _int_list(response.headers.get("x-ratelimit-reset"))
    if not resets:
        return None
    remaining = _int_list(response.headers.get("x-ratelimit-remaining"))
    for index, left in enumerate(remaining):
        if left <= 0 and index < len(resets):
            return float(resets[index])
    return float(resets[0])


def _int_list(value: str | None) -> list[int]:
    out: list[int] = []
    for part in (value or "").split(","):
        try:
            out.append(int(part.strip()))
        except ValueError:
            continue
    return out


def _error_object(body: Any) -> dict[str, Any]:
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict):
            return error
        # The reference's examples show an ``errors`` array; accept it too.
        errors = body.get("errors")
        if isinstance(errors, list) and errors and isinstance(errors[0], dict):
            return errors[0]
    return {}


def _error(response: httpx.Response) -> ProviderError:
    try:
        err = _error_object(response.json())
    except ValueError:
        err = {}
    code = str(err.get("code") or "")
    detail = excerpt(err.get("detail") or "")
    message = f"{code} {detail}".strip()
    status = response.status_code
    if code in _AUTH_CODES:
        return ProviderAuthError("brave", f"HTTP {status}: {message}", status=status)
    if status == 429:
        if code == "QUOTA_LIMITED":
            limited = ProviderRateLimited("brave", f"HTTP 429: {message}", status=status)
            limited.retryable = False  # the monthly quota will not come back within this request
            return limited
        retry_after = parse_retry_after(response.headers.get("retry-after"))
        if retry_after is None:
            retry_after = reset_seconds(response)
        return ProviderRateLimited("brave", f"HTTP 429: {message}", status=status, retry_after=retry_after)
    return status_error("brave", response, message)


class BraveProvider:
    name = "brave"

    def __init__(self, settings: BraveSettings, upstream: Upstream) -> None:
        if settings.base_url is None or settings.api_key is None:
            raise ValueError("brave needs base_url and api_key")
        self._settings = settings
        self._upstream = upstream
        self._url = f"{settings.base_url}/res/v1/web/search"

    async def search(self, query: ProviderQuery) -> ProviderAnswer:
        assert self._settings.api_key is not None
        params: dict[str, str | int] = {
            "q": query.q,
            "count": min(query.k, MAX_COUNT),
            "safesearch": self._settings.safesearch,
            "text_decorations": "false",
            "result_filter": "web",
        }
        if query.lang:
            params["search_lang"] = brave_lang(query.lang)
        if query.freshness:
            params["freshness"] = _FRESHNESS[query.freshness]
        if self._settings.country:
            params["country"] = self._settings.country
        headers = {
            "X-Subscription-Token": self._settings.api_key.get_secret_value(),
            "Accept": "application/json",
        }
        response = await self._upstream.request(
            "GET", self._url, params=params, headers=headers, error_mapper=_error, deadline=query.deadline
        )
        try:
            data = _Response.model_validate(json_body(self.name, response))
        except ValidationError as exc:
            raise ProviderBadResponse(self.name, "response is not a Brave search body") from exc
        if data.type == "ErrorResponse":
            raise _error(response)
        results = data.web.results if data.web else []
        hits = [
            ProviderHit(
                title=clean_text(item.title) or item.url,
                url=item.url,
                snippet=clean_text(item.description),
                published_at=parse_datetime(item.page_age),
                site=(item.meta_url.hostname if item.meta_url else None)
                or (item.profile.name if item.profile else None)
                or host_of(item.url),
            )
            for item in results
            if item.url and is_web_url(item.url)
        ]
        return ProviderAnswer(hits=hits[: query.k])
