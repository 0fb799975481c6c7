"""The fallback chain built from settings, against the HTTPS fake providers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from search_proxy.chain import ProviderChain
from search_proxy.errors import AllProvidersFailed
from search_proxy.models import ProviderQuery
from search_proxy.providers.factory import build_providers
from search_proxy.settings import HttpSettings, Settings
from search_proxy.upstream import build_provider_client
from tests.integration.search_proxy.sp_fakes import Reply, bocha_ok, searxng_ok

pytestmark = pytest.mark.integration

QUERY = ProviderQuery(q="harbour crane", k=5)


@pytest.fixture
async def chain(providers_url: str, fast_http: HttpSettings) -> AsyncIterator[ProviderChain]:
    fast = {"rate_per_s": 1000, "burst": 1000}
    settings = Settings(
        http=fast_http,
        providers={
            "order": ["searxng", "bocha", "brave", "tavily"],
            "searxng": {"base_url": f"{providers_url}/searxng", **fast},
            "bocha": {"base_url": f"{providers_url}/bocha", "api_key": "sk-bocha-test", **fast},
            "brave": {"base_url": f"{providers_url}/brave", "api_key": "BSA-test", **fast},
            "tavily": {"base_url": f"{providers_url}/tavily", "api_key": "tvly-test", **fast},
        },
    )
    client = build_provider_client(settings.http)
    yield ProviderChain(build_providers(settings, client))
    await client.aclose()


async def test_first_provider_answers_and_others_are_not_called(chain: ProviderChain, providers: Any) -> None:
    result = await chain.search(QUERY)
    assert result.provider == "searxng"
    assert providers.order() == ["searxng"]


async def test_error_then_empty_then_answer_in_configured_order(chain: ProviderChain, providers: Any) -> None:
    providers.script("searxng", *[Reply(500, {"error": "search error"})] * 3)
    empty = bocha_ok()
    empty["data"]["webPages"]["value"] = []
    providers.script("bocha", Reply(body=empty))
    result = await chain.search(QUERY)
    assert result.provider == "brave"
    assert providers.order() == ["searxng", "bocha", "brave"]
    assert any(w.startswith("searxng failed (provider_unavailable)") for w in result.warnings)
    assert "bocha returned no results" in result.warnings
    assert providers.calls("tavily") == []


async def test_timeout_falls_through_to_next(chain: ProviderChain, providers: Any) -> None:
    providers.script("searxng", *[Reply(body=searxng_ok(), delay=1.5)] * 3)  # read timeout is 1 s
    providers.script("bocha", Reply(401, {"code": "401", "message": "Invalid API KEY"}))
    result = await chain.search(QUERY)
    assert result.provider == "brave"
    assert any("searxng failed (provider_timeout)" in w for w in result.warnings)
    assert any("bocha failed (provider_auth_error)" in w and "Invalid API KEY" in w for w in result.warnings)


async def test_every_provider_failing_raises_with_all_reasons(chain: ProviderChain, providers: Any) -> None:
    providers.script("searxng", Reply(403, "<html>forbidden</html>", content_type="text/html"))
    providers.script("bocha", Reply(403, {"code": "403", "message": "You do not have enough money"}))
    providers.script("brave", Reply(422, {"type": "ErrorResponse", "error": {"code": "SUBSCRIPTION_TOKEN_INVALID"}}))
    providers.script("tavily", Reply(432, {"detail": {"error": "plan limit"}}))
    with pytest.raises(AllProvidersFailed) as caught:
        await chain.search(QUERY)
    assert [w.split(" ")[0] for w in caught.value.warnings] == ["searxng", "bocha", "brave", "tavily"]
