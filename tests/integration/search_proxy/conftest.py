"""Shared servers for the search-proxy integration tests (all on 127.0.0.1)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import trustme

from search_proxy.fetch.fetcher import PageFetcher
from search_proxy.settings import FetchSettings, HttpSettings
from search_proxy.upstream import build_ssl_context
from tests.integration.search_proxy.sp_fakes import FakeProviders
from tests.integration.search_proxy.sp_pages import PageSite
from tests.integration.search_proxy.sp_servers import LOCAL, MakeFetcher, ServerThread, TLSFiles


@pytest.fixture(scope="session")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TLSFiles:
    """A private CA (trusted only via the ca_bundle setting) and a server certificate it signed."""
    ca = trustme.CA()
    cert = ca.issue_cert("localhost", "127.0.0.1", "pages.test")
    folder = tmp_path_factory.mktemp("tls")
    files = TLSFiles(folder / "ca.pem", folder / "cert.pem", folder / "key.pem")
    ca.cert_pem.write_to_path(str(files.ca_pem))
    cert.cert_chain_pems[0].write_to_path(str(files.cert_pem))
    for extra in cert.cert_chain_pems[1:]:
        extra.write_to_path(str(files.cert_pem), append=True)
    cert.private_key_pem.write_to_path(str(files.key_pem))
    return files


@pytest.fixture(scope="session")
def _providers_server(tls: TLSFiles) -> Iterator[tuple[FakeProviders, ServerThread]]:
    fake = FakeProviders()
    with ServerThread(fake.app, certfile=str(tls.cert_pem), keyfile=str(tls.key_pem), host_name="localhost") as srv:
        yield fake, srv


@pytest.fixture
def providers(_providers_server: tuple[FakeProviders, ServerThread]) -> FakeProviders:
    """The fake providers over HTTPS, with scripts and request log cleared for this test."""
    fake, _server = _providers_server
    fake.reset()
    return fake


@pytest.fixture
def providers_url(_providers_server: tuple[FakeProviders, ServerThread]) -> str:
    return _providers_server[1].base_url


@pytest.fixture(scope="session")
def _page_site() -> Iterator[tuple[PageSite, ServerThread]]:
    site = PageSite()
    with ServerThread(site.app) as srv:
        yield site, srv


@pytest.fixture
def pages(_page_site: tuple[PageSite, ServerThread]) -> PageSite:
    site, _server = _page_site
    site.hits.clear()
    site.accept_encodings.clear()
    site.huge_sent = 0
    return site


@pytest.fixture
def pages_url(_page_site: tuple[PageSite, ServerThread]) -> str:
    return _page_site[1].base_url


@pytest.fixture
def fast_http(tls: TLSFiles) -> HttpSettings:
    """Provider HTTP settings that trust the test CA and retry quickly."""
    return HttpSettings(
        ca_bundle=tls.ca_pem,
        connect_timeout_s=1.0,
        read_timeout_s=1.0,
        retries=2,
        backoff_base_s=0.01,
        backoff_max_s=0.02,
        retry_after_cap_s=5.0,
        provider_budget_s=5.0,
    )


@pytest.fixture
async def make_fetcher(tls: TLSFiles) -> AsyncIterator[MakeFetcher]:
    """Page fetchers trusting the test CA and allowing 127.0.0.1, closed after the test."""
    made: list[PageFetcher] = []

    def build(resolver: Any = None, **overrides: Any) -> PageFetcher:
        settings = FetchSettings(**{"allow_networks": LOCAL, "page_timeout_s": 3.0, "deadline_s": 5.0, **overrides})
        fetcher = PageFetcher(settings, ssl_context=build_ssl_context(str(tls.ca_pem)), resolver=resolver)
        made.append(fetcher)
        return fetcher

    yield build
    for fetcher in made:
        await fetcher.aclose()
