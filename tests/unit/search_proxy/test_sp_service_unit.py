"""SearchService with in-process chain and fetcher: ranking, dedupe, caching rules, deadlines."""

from __future__ import annotations

import time
from collections.abc import Sequence

import pytest

from search_proxy.cache import TTLCache
from search_proxy.chain import ProviderChain
from search_proxy.errors import DeadlineExceeded
from search_proxy.fetch.fetcher import FetchOutcome
from search_proxy.models import ProviderAnswer, ProviderHit, ProviderQuery, SearchRequest, SearchResponse
from search_proxy.service import SearchService
from search_proxy.settings import Settings

pytestmark = pytest.mark.unit


class OneProvider:
    name = "fake"

    def __init__(self, urls: list[str]) -> None:
        self.urls = urls
        self.calls = 0

    async def search(self, query: ProviderQuery) -> ProviderAnswer:
        self.calls += 1
        return ProviderAnswer([ProviderHit(title=u, url=u, snippet="s") for u in self.urls])


class FakeFetcher:
    def __init__(self, fail: set[int] | None = None) -> None:
        self.fail = fail or set()
        self.requests: list[tuple[list[str], float | None]] = []

    async def fetch_many(self, urls: Sequence[str], *, deadline_s: float | None = None) -> FetchOutcome:
        self.requests.append((list(urls), deadline_s))
        outcome = FetchOutcome()
        for index, url in enumerate(urls):
            if index in self.fail:
                outcome.warnings.append(f"result {index + 1} ({url}): HTTP 500")
            else:
                outcome.contents[index] = f"text of {url}"
        return outcome


def service(urls: list[str], fetcher: FakeFetcher) -> tuple[SearchService, OneProvider]:
    provider = OneProvider(urls)
    cache: TTLCache[SearchResponse] = TTLCache(60, 10)
    return SearchService(Settings(), ProviderChain([provider]), fetcher, cache), provider  # type: ignore[arg-type]


URLS = [
    "https://a.example/",
    "https://a.example",
    "https://a.example/#top",
    "https://b.example/x",
    "https://c.example/",
]


async def test_duplicates_are_dropped_and_ranks_are_contiguous() -> None:
    svc, _ = service(URLS, FakeFetcher())
    response = await svc.search(SearchRequest(q="x", k=10))
    assert [(r.rank, r.url) for r in response.results] == [
        (1, "https://a.example/"),
        (2, "https://b.example/x"),
        (3, "https://c.example/"),
    ]


async def test_fetch_fills_content_for_top_n_only() -> None:
    fetcher = FakeFetcher()
    svc, _ = service(URLS, fetcher)
    response = await svc.search(SearchRequest(q="x", fetch=2))
    assert [r.content for r in response.results] == ["text of https://a.example/", "text of https://b.example/x", None]
    assert fetcher.requests[0][0] == ["https://a.example/", "https://b.example/x"]


async def test_complete_answers_are_cached_incomplete_ones_are_not() -> None:
    svc, provider = service(URLS, FakeFetcher(fail={1}))
    first = await svc.search(SearchRequest(q="x", fetch=2))
    again = await svc.search(SearchRequest(q="x", fetch=2))
    assert first.warnings and not again.cached and provider.calls == 2
    no_fetch = await svc.search(SearchRequest(q="x"))
    cached = await svc.search(SearchRequest(q="x"))
    assert not no_fetch.cached and cached.cached and provider.calls == 3


async def test_callers_deadline_is_passed_down_minus_a_margin() -> None:
    fetcher = FakeFetcher()
    svc, _ = service(URLS, fetcher)
    await svc.search(SearchRequest(q="x", fetch=1, deadline_s=2.0))
    budget = fetcher.requests[0][1]
    assert budget is not None and 1.5 < budget <= 1.75


async def test_a_deadline_already_past_names_every_provider_untried() -> None:
    provider = OneProvider(URLS)
    chain = ProviderChain([provider])  # type: ignore[list-item]
    with pytest.raises(DeadlineExceeded) as caught:
        await chain.search(ProviderQuery(q="x", k=3, deadline=time.monotonic() - 1))
    assert caught.value.warnings == ["not tried because the request's deadline was reached: fake"]
    assert provider.calls == 0


async def test_fetch_beyond_max_pages_is_limited_with_warning() -> None:
    fetcher = FakeFetcher()
    svc, _ = service([f"https://{i}.example/" for i in range(20)], fetcher)
    response = await svc.search(SearchRequest(q="x", k=20, fetch=15))
    assert len(fetcher.requests[0][0]) == 10 and "fetch limited to 10 pages" in response.warnings
