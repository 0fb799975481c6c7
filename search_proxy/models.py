"""Wire types of the search proxy: the request callers send and the response they get back.

``ProviderHit`` is what a provider adapter returns before ranking and page fetching; the HTTP
shapes of each provider never leak past its adapter.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

MAX_K = 20
MAX_QUERY_CHARS = 400  # Tavily rejects longer queries and Brave's older limit is the same
# The validation rules are also in the JSON schema (patterns, bounds), so the OpenAPI document
# says exactly what is accepted: a query needs one character str.split() does not count as space.
QUERY_PATTERN = r"[^\s\x1c-\x1f]"
LANG_PATTERN = r"^$|^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8}){0,2}$"
_LANG = re.compile(LANG_PATTERN)
# Less than this cannot hold even one provider call plus the reply margin.
MIN_DEADLINE_S = 0.5
# What to tell a caller whose value broke a pattern or matched no member of a union, where
# pydantic's own text would quote a regular expression or every member's complaint.
FIELD_RULES = {
    "q": "must contain something other than spaces",
    "lang": "must be a language tag such as 'en' or 'zh-CN'",
    "fetch": f"must be true, false or a number of pages from 0 to {MAX_K}",
}
_TRUE = {"true", "yes", "on"}
_FALSE = {"false", "no", "off", ""}

Freshness = Literal["day", "week", "month", "year"]


def _parse_fetch(value: Any) -> Any:
    """``fetch=true`` means the configured default, ``fetch=N`` means the top N, ``false``/``0`` none."""
    if isinstance(value, str):
        text = value.strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        if text.isdigit():
            return int(text)
        raise ValueError(FIELD_RULES["fetch"])
    return value


def _normalise_query(value: str) -> str:
    text = " ".join(value.split())
    if not text:
        raise ValueError(FIELD_RULES["q"])
    return text


def _check_lang(value: str | None) -> str | None:
    if value is None or value == "":
        return None
    if not _LANG.match(value):
        raise ValueError(FIELD_RULES["lang"])
    return value


FetchPages = Annotated[bool | Annotated[int, Field(ge=0, le=MAX_K)], BeforeValidator(_parse_fetch)]


class SearchRequest(BaseModel):
    """``GET /search`` query parameters or the ``POST /search`` JSON body."""

    model_config = ConfigDict(extra="forbid")

    q: Annotated[
        str, Field(min_length=1, max_length=MAX_QUERY_CHARS, pattern=QUERY_PATTERN), AfterValidator(_normalise_query)
    ]
    k: int = Field(default=10, ge=1, le=MAX_K)
    lang: Annotated[str | None, Field(pattern=LANG_PATTERN), AfterValidator(_check_lang)] = None
    freshness: Freshness | None = None
    fetch: FetchPages = False
    # The caller's own deadline for the whole request: providers, their retries and page fetching
    # stop in time for the reply to arrive before it (server.default_deadline_s when absent).
    deadline_s: float | None = Field(default=None, ge=MIN_DEADLINE_S, le=120)

    def pages_to_fetch(self, default_pages: int, max_pages: int) -> int:
        if self.fetch is True:
            wanted = default_pages
        elif self.fetch is False:
            wanted = 0
        else:
            wanted = self.fetch
        return min(wanted, max_pages, self.k)


class SearchResult(BaseModel):
    rank: int
    title: str
    url: str
    snippet: str
    published_at: datetime | None = None
    site: str | None = None
    # Main text of the page, present only when it was fetched and extracted.
    content: str | None = None


class SearchResponse(BaseModel):
    query: str
    provider: str | None
    results: list[SearchResult]
    cached: bool = False
    took_ms: int
    warnings: list[str] = Field(default_factory=list)


class ErrorBody(BaseModel):
    message: str
    # OpenAI's convention: authentication_error, permission_error, rate_limit_error,
    # invalid_request_error (other 4xx), server_error (5xx).
    type: str
    code: str
    warnings: list[str] = Field(default_factory=list)


class ErrorResponse(BaseModel):
    error: ErrorBody


class HealthResponse(BaseModel):
    status: Literal["ok"]


class ReadyResponse(BaseModel):
    """``/readyz``: 200 with ``ready``, or 503 with ``no_provider`` (a readiness report, not an error)."""

    status: Literal["ready", "no_provider"]
    providers: list[str]
    order: list[str]


@dataclass(frozen=True)
class ProviderQuery:
    """What the chain asks each provider; adapters map it onto their own parameters.

    ``deadline`` is the ``time.monotonic()`` by which the answer is needed; adapters hand it to
    ``Upstream.request`` so no retry is started that could not finish before it.
    """

    q: str
    k: int
    lang: str | None = None
    freshness: Freshness | None = None
    deadline: float | None = None


@dataclass
class ProviderHit:
    title: str
    url: str
    snippet: str
    published_at: datetime | None = None
    site: str | None = None


@dataclass
class ProviderAnswer:
    """Hits plus non-fatal notes from the provider (e.g. SearXNG engines that timed out)."""

    hits: list[ProviderHit]
    notes: list[str] = field(default_factory=list)
