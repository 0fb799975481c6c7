"""Page fetching against local servers: charsets, limits, deadlines, redirects and the SSRF guard."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest

from search_proxy.fetch.fetcher import PageFetcher
from search_proxy.settings import FetchSettings
from search_proxy.upstream import build_ssl_context
from tests.integration.search_proxy.sp_pages import ARTICLE_SENTENCE, CHINESE_SENTENCE, PageSite
from tests.integration.search_proxy.sp_servers import LOCAL, MakeFetcher, MapResolver, ServerThread, TLSFiles

pytestmark = pytest.mark.integration


async def fetch_one(fetcher: PageFetcher, url: str) -> tuple[str | None, list[str]]:
    outcome = await fetcher.fetch_many([url])
    return outcome.contents.get(0), outcome.warnings


async def test_article_main_text_without_boilerplate(
    make_fetcher: MakeFetcher, pages: PageSite, pages_url: str
) -> None:
    text, warnings = await fetch_one(make_fetcher(), f"{pages_url}/article")
    assert warnings == []
    assert text is not None and ARTICLE_SENTENCE in text
    assert "Home | About" not in text


@pytest.mark.parametrize("path", ["/gbk", "/gbk-meta", "/gbk-lying", "/gbk-bare"])
async def test_gbk_pages_decode_by_header_meta_or_detection(
    make_fetcher: MakeFetcher, pages: PageSite, pages_url: str, path: str
) -> None:
    text, warnings = await fetch_one(make_fetcher(), pages_url + path)
    assert warnings == []
    assert text is not None and CHINESE_SENTENCE in text


async def test_huge_page_stops_reading_at_byte_limit(
    make_fetcher: MakeFetcher, pages: PageSite, pages_url: str
) -> None:
    fetcher = make_fetcher(max_bytes=64 * 1024, max_chars=2000)
    started = time.monotonic()
    outcome = await fetcher.fetch_many([f"{pages_url}/huge"])
    assert time.monotonic() - started < 2.0  # an endless page, so only stopping early can finish
    assert outcome.warnings == []
    assert outcome.notes == [f"result 1 ({pages_url}/huge): page cut at 65,536 bytes (the fetch limit)"]
    text = outcome.contents[0]
    assert ARTICLE_SENTENCE in text and len(text) <= 2000
    await asyncio.sleep(0.2)
    assert pages.huge_sent < 32 * 1024 * 1024  # the server stopped streaming once we hung up


async def test_slow_page_is_abandoned_at_the_deadline(
    make_fetcher: MakeFetcher, pages: PageSite, pages_url: str
) -> None:
    fetcher = make_fetcher(page_timeout_s=5.0)
    started = time.monotonic()
    outcome = await fetcher.fetch_many([f"{pages_url}/article", f"{pages_url}/slow?s=3"], deadline_s=0.6)
    assert time.monotonic() - started < 1.0
    assert ARTICLE_SENTENCE in outcome.contents[0] and 1 not in outcome.contents
    assert outcome.warnings == [f"result 2 ({pages_url}/slow?s=3): not fetched within the 0.6 s deadline"]


async def test_slow_page_hits_per_page_timeout(make_fetcher: MakeFetcher, pages: PageSite, pages_url: str) -> None:
    text, warnings = await fetch_one(make_fetcher(page_timeout_s=0.3), f"{pages_url}/slow?s=2")
    assert text is None and warnings[0].endswith("timed out after 0.3 s")


async def test_redirect_chain_is_followed_hop_by_hop(
    make_fetcher: MakeFetcher, pages: PageSite, pages_url: str
) -> None:
    text, warnings = await fetch_one(make_fetcher(max_redirects=5), f"{pages_url}/redirect/3")
    assert warnings == [] and text is not None and ARTICLE_SENTENCE in text
    assert pages.paths() == ["/redirect/3", "/redirect/2", "/redirect/1", "/redirect/0", "/article"]


async def test_redirect_chain_is_bounded(make_fetcher: MakeFetcher, pages: PageSite, pages_url: str) -> None:
    text, warnings = await fetch_one(make_fetcher(max_redirects=2), f"{pages_url}/redirect/5")
    assert text is None and warnings[0].endswith("more than 2 redirects")
    assert len(pages.hits) == 3


@pytest.mark.parametrize(
    ("target", "reason"),
    [
        ("http://10.0.0.1/admin", "10.0.0.1 resolves to 10.0.0.1 (not globally reachable: Private-Use"),
        ("http://169.254.169.254/latest/meta-data/", "(not globally reachable: Link Local, 169.254.0.0/16"),
        ("http://[::ffff:127.0.0.1]:{port}/article", "IPv4-mapped form of 127.0.0.1: not globally reachable"),
        ("http://[::1]:{port}/article", "(not globally reachable: Loopback Address, ::1/128"),
        ("file:///etc/passwd", "scheme 'file' is not http/https"),
    ],
)
async def test_redirect_to_forbidden_target_is_refused(
    make_fetcher: MakeFetcher, pages: PageSite, pages_url: str, target: str, reason: str
) -> None:
    port = pages_url.rsplit(":", 1)[1]
    text, warnings = await fetch_one(make_fetcher(), f"{pages_url}/to?url={target.format(port=port)}")
    assert text is None
    assert "blocked" in warnings[0] and reason in warnings[0]
    assert pages.paths() == ["/to"]  # the forbidden hop was never requested


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("file:///etc/passwd", "scheme 'file'"),
        ("gopher://127.0.0.1:70/_INFO", "scheme 'gopher'"),
        ("ftp://127.0.0.1/pub", "scheme 'ftp'"),
    ],
)
async def test_non_http_schemes_are_refused(make_fetcher: MakeFetcher, url: str, reason: str) -> None:
    text, warnings = await fetch_one(make_fetcher(), url)
    assert text is None and reason in warnings[0]


async def test_localhost_is_refused_when_not_allowlisted(
    make_fetcher: MakeFetcher, pages: PageSite, pages_url: str
) -> None:
    port = pages_url.rsplit(":", 1)[1]
    fetcher = make_fetcher(allow_networks=[])
    for url in (f"http://localhost:{port}/article", f"{pages_url}/article", f"http://127.1:{port}/article"):
        text, warnings = await fetch_one(fetcher, url)
        assert text is None and "Loopback, 127.0.0.0/8" in warnings[0], url
    assert pages.hits == []


async def test_credentials_in_url_are_refused_and_not_echoed(
    make_fetcher: MakeFetcher, pages: PageSite, pages_url: str
) -> None:
    url = pages_url.replace("http://", "http://admin:hunter2@") + "/article"
    text, warnings = await fetch_one(make_fetcher(), url)
    assert text is None and "credentials in the URL are refused" in warnings[0]
    assert "hunter2" not in warnings[0]
    assert pages.hits == []


@pytest.fixture
def connects(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Every address a socket in this test tried to connect to (on top of the loopback-only guard)."""
    seen: list[Any] = []
    guarded = socket.socket.connect

    def spy(self: socket.socket, address: Any) -> None:
        seen.append(address)
        return guarded(self, address)

    monkeypatch.setattr(socket.socket, "connect", spy)
    return seen


@pytest.mark.parametrize(
    "address", ["192.0.0.8", "192.0.0.100", "192.88.99.1", "3fff::1", "192.0.0.9", "2001:20::1", "64:ff9b::a00:1"]
)
async def test_refused_addresses_are_never_connected_to(
    make_fetcher: MakeFetcher, connects: list[Any], address: str
) -> None:
    fetcher = make_fetcher(MapResolver({"special.test": [address]}))
    literal = f"[{address}]" if ":" in address else address
    for url, host in (("http://special.test/page", "special.test"), (f"https://{literal}/page", address)):
        text, warnings = await fetch_one(fetcher, url)
        assert text is None and f"{host} resolves to {address} (" in warnings[0], warnings
    assert connects == []


async def test_any_forbidden_address_refuses_the_host(make_fetcher: MakeFetcher, pages_url: str) -> None:
    port = pages_url.rsplit(":", 1)[1]
    resolver = MapResolver({"mixed.test": ["127.0.0.1", "10.0.0.5"]})
    text, warnings = await fetch_one(make_fetcher(resolver), f"http://mixed.test:{port}/article")
    assert text is None and "mixed.test resolves to 10.0.0.5 (not globally reachable: Private-Use" in warnings[0]


async def test_pdf_text_is_extracted(make_fetcher: MakeFetcher, pages: PageSite, pages_url: str) -> None:
    text, warnings = await fetch_one(make_fetcher(), f"{pages_url}/pdf")
    assert warnings == [] and text is not None and "Quarterly safety report" in text


async def test_pdf_over_byte_limit_is_reported(make_fetcher: MakeFetcher, pages: PageSite, pages_url: str) -> None:
    size = len(pages.pdf_bytes)
    text, warnings = await fetch_one(make_fetcher(max_bytes=1024), f"{pages_url}/pdf")
    assert size > 1024 and text is None and "exceeds the 1024-byte limit" in warnings[0]


async def test_images_and_errors_are_warnings(make_fetcher: MakeFetcher, pages: PageSite, pages_url: str) -> None:
    outcome = await make_fetcher().fetch_many([f"{pages_url}/image", f"{pages_url}/missing"])
    assert outcome.contents == {}
    assert outcome.warnings[0].endswith("content type image/png is not extracted")
    assert outcome.warnings[1].endswith("HTTP 404")


@pytest.fixture(scope="module")
def tls_site(tls: TLSFiles) -> Iterator[tuple[PageSite, ServerThread]]:
    site = PageSite()
    with ServerThread(site.app, certfile=str(tls.cert_pem), keyfile=str(tls.key_pem), host_name="pages.test") as srv:
        yield site, srv


async def test_https_connects_to_checked_ip_with_original_host_and_sni(
    make_fetcher: MakeFetcher, tls_site: tuple[PageSite, ServerThread]
) -> None:
    site, server = tls_site
    site.hits.clear()
    resolver = MapResolver({"pages.test": ["127.0.0.1"]})
    text, warnings = await fetch_one(make_fetcher(resolver), f"https://pages.test:{server.port}/redirect/1")
    assert warnings == [] and text is not None and ARTICLE_SENTENCE in text
    # The certificate names pages.test, not 127.0.0.1: success proves SNI and hostname checks used the name.
    assert [host for _path, host in site.hits] == [f"pages.test:{server.port}"] * 3
    assert resolver.lookups == ["pages.test"] * 3  # one lookup per hop, and the connection used its answer


async def test_https_without_trusted_ca_fails_verification(tls_site: tuple[PageSite, ServerThread]) -> None:
    _site, server = tls_site
    settings = FetchSettings(allow_networks=LOCAL)
    fetcher = PageFetcher(
        settings, ssl_context=build_ssl_context(None), resolver=MapResolver({"pages.test": ["127.0.0.1"]})
    )
    try:
        text, warnings = await fetch_one(fetcher, f"https://pages.test:{server.port}/article")
    finally:
        await fetcher.aclose()
    assert text is None and "ConnectError" in warnings[0]
