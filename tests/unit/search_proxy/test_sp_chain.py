"""Fallback chain semantics with in-process providers."""

from __future__ import annotations

import pytest

from search_proxy.chain import ProviderChain
from search_proxy.errors import AllProvidersFailed, NoProviderConfigured, ProviderTimeout
from search_proxy.models import ProviderAnswer, ProviderHit, ProviderQuery

pytestmark = pytest.mark.unit

QUERY = ProviderQuery(q="x", k=3)


class Fake:
    def __init__(self, name: str, outcome: ProviderAnswer | Exception) -> None:
        self.name = name
        self.outcome = outcome
        self.calls = 0

    async def search(self, query: ProviderQuery) -> ProviderAnswer:
        self.calls += 1
        if isinstance(self.outcome, Exception):
            raise self.outcome
        return self.outcome


def hits(*urls: str) -> ProviderAnswer:
    return ProviderAnswer([ProviderHit(title=u, url=u, snippet="") for u in urls], notes=[])


async def test_first_non_empty_answer_wins() -> None:
    a = Fake("a", ProviderTimeout("a", "no answer within 1s"))
    b = Fake("b", hits())
    c = Fake("c", hits("https://c.example/"))
    d = Fake("d", hits("https://d.example/"))
    result = await ProviderChain([a, b, c, d]).search(QUERY)
    assert result.provider == "c" and [h.url for h in result.hits] == ["https://c.example/"]
    assert result.warnings == ["a failed (provider_timeout): no answer within 1s", "b returned no results"]
    assert d.calls == 0


async def test_all_empty_is_an_empty_result_not_an_error() -> None:
    result = await ProviderChain([Fake("a", hits()), Fake("b", ProviderTimeout("b", "t"))]).search(QUERY)
    assert result.provider is None and result.hits == []


async def test_all_failing_raises() -> None:
    with pytest.raises(AllProvidersFailed) as caught:
        await ProviderChain([Fake("a", ProviderTimeout("a", "t")), Fake("b", ProviderTimeout("b", "t"))]).search(QUERY)
    assert len(caught.value.warnings) == 2


async def test_empty_chain_is_not_configured() -> None:
    with pytest.raises(NoProviderConfigured):
        await ProviderChain([]).search(QUERY)
