"""``rag.web_client.SearchProxyClient`` against the real search proxy under uvicorn."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from rag.errors import WebSearchError
from rag.web_client import SearchProxyClient, WebSearchResponse
from search_proxy.app import create_app
from search_proxy.settings import HttpSettings, Settings
from tests.integration.search_proxy.sp_fakes import Impostor, Reply, searxng_ok
from tests.integration.search_proxy.sp_pages import ARTICLE_SENTENCE
from tests.integration.search_proxy.sp_servers import LOCAL, ServerThread

pytestmark = pytest.mark.integration

KEY = "proxy-shared-secret-for-rag"


@pytest.fixture(scope="module")
def proxy_url(_providers_server: Any, tls: Any) -> Iterator[str]:
    _fake, provider_server = _providers_server
    http = HttpSettings(ca_bundle=tls.ca_pem, retries=0, read_timeout_s=3.0)
    settings = Settings(
        server={"api_key": KEY},
        http=http,
        providers={"order": ["searxng"], "searxng": {"base_url": f"{provider_server.base_url}/searxng"}},
        fetch={"allow_networks": LOCAL},
        cache={"enabled": False},
    )
    with ServerThread(create_app(settings)) as server:
        yield server.base_url


async def test_search_returns_typed_response_with_page_text(
    proxy_url: str, providers: Any, pages: Any, pages_url: str
) -> None:
    providers.script("searxng", Reply(body=searxng_ok([("Crane", f"{pages_url}/article", "checklist")])))
    async with SearchProxyClient(proxy_url, KEY) as client:
        response = await client.search("crane checklist", k=3, lang="en", fetch=1, deadline_s=5.0)
    assert isinstance(response, WebSearchResponse)
    assert response.provider == "searxng" and response.query == "crane checklist"
    assert response.results[0].rank == 1 and ARTICLE_SENTENCE in (response.results[0].content or "")
    seen = providers.calls("searxng")[0]
    assert seen.params["language"] == "en"


async def test_wrong_key_is_web_search_error(proxy_url: str, providers: Any) -> None:
    async with SearchProxyClient(proxy_url, "not-the-key") as client:
        with pytest.raises(WebSearchError, match="HTTP 401: unauthorized"):
            await client.search("python", k=3, lang=None, fetch=0, deadline_s=5.0)
    assert providers.seen == []


async def test_invalid_request_is_web_search_error(proxy_url: str) -> None:
    async with SearchProxyClient(proxy_url, KEY) as client:
        with pytest.raises(WebSearchError, match="HTTP 422: invalid_request: k: Input should be greater"):
            await client.search("python", k=0, lang=None, fetch=0, deadline_s=5.0)


async def test_provider_failure_is_web_search_error(proxy_url: str, providers: Any) -> None:
    providers.script("searxng", Reply(500, {"error": "search error"}))
    async with SearchProxyClient(proxy_url, KEY) as client:
        with pytest.raises(WebSearchError, match="HTTP 502: all_providers_failed"):
            await client.search("python", k=3, lang=None, fetch=0, deadline_s=5.0)


async def test_the_proxy_answers_within_the_forwarded_deadline(proxy_url: str, providers: Any) -> None:
    providers.script("searxng", Reply(body=searxng_ok(), delay=2.0))
    started = time.monotonic()
    async with SearchProxyClient(proxy_url, KEY) as client:
        with pytest.raises(WebSearchError, match="HTTP 504: deadline_exceeded: no search provider answered"):
            await client.search("python", k=3, lang=None, fetch=0, deadline_s=0.5)
    assert time.monotonic() - started < 0.5  # the proxy kept a margin for its reply


async def test_unreachable_proxy_is_web_search_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    async with SearchProxyClient(f"http://127.0.0.1:{port}", KEY) as client:
        with pytest.raises(WebSearchError, match="unreachable: ConnectError"):
            await client.search("python", k=3, lang=None, fetch=0, deadline_s=2.0)


@pytest.fixture(scope="module")
def impostor_url() -> Iterator[str]:
    """A server that answers /{kind}/search with the faults a proxy (or what stands in its place) can show."""
    with ServerThread(Impostor().app) as server:
        yield server.base_url


@pytest.mark.parametrize("kind", ["shape", "html", "truncated"])
async def test_malformed_response_is_web_search_error(impostor_url: str, kind: str) -> None:
    async with SearchProxyClient(f"{impostor_url}/{kind}", None) as client:
        with pytest.raises(WebSearchError, match="malformed response"):
            await client.search("python", k=3, lang=None, fetch=0, deadline_s=2.0)


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("error500", r"^search proxy returned HTTP 500: <html><body>Internal Server Error</body></html>$"),
        ("error503", r"^search proxy returned HTTP 503: upstream connect error or disconnect/reset$"),
        ("error502", r"^search proxy returned HTTP 502: all_providers_failed: every search provider failed$"),
        ("oddjson", r'^search proxy returned HTTP 500: \{"error": "boom"\}$'),
    ],
)
async def test_error_statuses_say_what_the_proxy_said(impostor_url: str, kind: str, message: str) -> None:
    async with SearchProxyClient(f"{impostor_url}/{kind}", None) as client:
        with pytest.raises(WebSearchError, match=message):
            await client.search("python", k=3, lang=None, fetch=0, deadline_s=2.0)


async def test_a_stalled_proxy_is_given_up_at_the_deadline(impostor_url: str) -> None:
    started = time.monotonic()
    async with SearchProxyClient(f"{impostor_url}/stall", None) as client:
        with pytest.raises(WebSearchError, match=r"^search proxy did not answer within 0.5 s$"):
            await client.search("python", k=3, lang=None, fetch=0, deadline_s=0.5)
    assert 0.45 < time.monotonic() - started < 1.0


async def test_a_connection_dropped_mid_answer_is_web_search_error(impostor_url: str) -> None:
    async with SearchProxyClient(f"{impostor_url}/drop", None) as client:
        with pytest.raises(WebSearchError, match=r"^search proxy connection failed: (ReadError|RemoteProtocolError)$"):
            await client.search("python", k=3, lang=None, fetch=0, deadline_s=2.0)


async def test_injected_client_is_used_and_left_open(proxy_url: str, providers: Any) -> None:
    sent: list[httpx.Request] = []

    async def record(request: httpx.Request) -> None:
        sent.append(request)

    async with httpx.AsyncClient(event_hooks={"request": [record]}) as shared:
        client = SearchProxyClient(proxy_url, KEY, client=shared)
        await client.search("python", k=2, lang=None, fetch=0, deadline_s=5.0)
        await client.aclose()
        assert not shared.is_closed
    assert sent[0].headers["x-search-proxy-key"] == KEY
    assert sent[0].url.path == "/search"
