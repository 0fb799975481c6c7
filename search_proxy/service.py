"""The search use case: cache → provider chain → ranking → optional page fetch, within one deadline.

The deadline is the caller's ``deadline_s`` (or ``server.default_deadline_s``) less a margin for
sending the reply; the provider chain and then page fetching share it.
"""

from __future__ import annotations

import time
from collections.abc import Hashable

from search_proxy.cache import TTLCache
from search_proxy.chain import ProviderChain
from search_proxy.fetch.fetcher import PageFetcher
from search_proxy.models import ProviderHit, ProviderQuery, SearchRequest, SearchResponse, SearchResult
from search_proxy.settings import Settings

# Time kept back from the request's deadline for serialising and sending the reply.
REPLY_MARGIN_S = 0.25


def _url_key(url: str) -> str:
    return url.split("#", 1)[0].rstrip("/")


def dedupe(hits: list[ProviderHit]) -> list[ProviderHit]:
    """Providers (SearXNG especially) repeat a page under trivially different URLs."""
    seen: set[str] = set()
    out: list[ProviderHit] = []
    for hit in hits:
        key = _url_key(hit.url)
        if key not in seen:
            seen.add(key)
            out.append(hit)
    return out


class SearchService:
    """Answers ``SearchRequest``s; built once in the app's lifespan."""

    def __init__(
        self,
        settings: Settings,
        chain: ProviderChain,
        fetcher: PageFetcher,
        cache: TTLCache[SearchResponse] | None,
    ) -> None:
        self._settings = settings
        self.chain = chain
        self._fetcher = fetcher
        self._cache = cache

    async def search(self, request: SearchRequest) -> SearchResponse:
        started = time.monotonic()
        fetch = self._settings.fetch
        pages = request.pages_to_fetch(fetch.default_pages, fetch.max_pages)
        key: Hashable = (request.q, request.k, request.lang, request.freshness, pages)
        if self._cache is not None:
            hit = self._cache.get(key)
            if hit is not None:
                return hit.model_copy(update={"cached": True, "took_ms": _ms_since(started)})

        budget = request.deadline_s if request.deadline_s is not None else self._settings.server.default_deadline_s
        deadline = started + budget - REPLY_MARGIN_S
        found = await self.chain.search(
            ProviderQuery(q=request.q, k=request.k, lang=request.lang, freshness=request.freshness, deadline=deadline)
        )
        warnings = list(found.warnings)
        results = [
            SearchResult(
                rank=rank,
                title=hit.title,
                url=hit.url,
                snippet=hit.snippet,
                published_at=hit.published_at,
                site=hit.site,
            )
            for rank, hit in enumerate(dedupe(found.hits)[: request.k], start=1)
        ]
        if not isinstance(request.fetch, bool) and request.fetch > fetch.max_pages:
            warnings.append(f"fetch limited to {fetch.max_pages} pages")
        fetch_warnings, fetch_notes = await self._fetch_pages(results[:pages], deadline)
        warnings += fetch_warnings + fetch_notes
        response = SearchResponse(
            query=request.q,
            provider=found.provider,
            results=results,
            cached=False,
            took_ms=_ms_since(started),
            warnings=warnings,
        )
        # Failed fetches are not cached, so the next identical query gets another chance; a page
        # truncated at the byte limit would be truncated again, so that alone does not prevent caching.
        if self._cache is not None and results and not fetch_warnings:
            self._cache.put(key, response)
        return response

    async def _fetch_pages(self, targets: list[SearchResult], deadline: float) -> tuple[list[str], list[str]]:
        """Page text into ``targets``; returns (warnings about failed pages, notes about truncated ones)."""
        if not targets:
            return [], []
        budget = deadline - time.monotonic()
        if budget <= 0:
            return ["pages not fetched: the request's deadline left no time"], []
        outcome = await self._fetcher.fetch_many([result.url for result in targets], deadline_s=budget)
        for index, text in outcome.contents.items():
            targets[index].content = text
        return outcome.warnings, outcome.notes


def _ms_since(started: float) -> int:
    return round((time.monotonic() - started) * 1000)
