"""Builds the configured providers, in chain order, each with its own rate limit and retry policy."""

from __future__ import annotations

import httpx

from search_proxy.providers.base import SearchProvider
from search_proxy.providers.bocha import BochaProvider
from search_proxy.providers.brave import BraveProvider
from search_proxy.providers.searxng import SearxngProvider
from search_proxy.providers.tavily import TavilyProvider
from search_proxy.ratelimit import TokenBucket
from search_proxy.settings import ProviderSettings, SearxngSettings, Settings
from search_proxy.upstream import Upstream


def _upstream(name: str, group: ProviderSettings, settings: Settings, client: httpx.AsyncClient) -> Upstream:
    allow_http = isinstance(group, SearxngSettings) and group.allow_http
    return Upstream(
        name,
        client,
        settings.http,
        TokenBucket(group.rate_per_s, group.burst),
        max_wait_s=group.max_wait_s,
        allow_http=allow_http,
    )


def build_providers(settings: Settings, client: httpx.AsyncClient) -> list[SearchProvider]:
    """Only providers that are fully configured; the order is ``providers.order``."""
    groups = settings.providers
    out: list[SearchProvider] = []
    for name in settings.configured_providers():
        if name == "searxng":
            out.append(SearxngProvider(groups.searxng, _upstream(name, groups.searxng, settings, client)))
        elif name == "bocha":
            out.append(BochaProvider(groups.bocha, _upstream(name, groups.bocha, settings, client)))
        elif name == "brave":
            out.append(BraveProvider(groups.brave, _upstream(name, groups.brave, settings, client)))
        elif name == "tavily":
            out.append(TavilyProvider(groups.tavily, _upstream(name, groups.tavily, settings, client)))
    return out
