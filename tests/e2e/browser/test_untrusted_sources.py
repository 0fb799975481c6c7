"""Sources the analyst cannot trust: web results through the real search proxy (an HTTPS fake
provider, a fetched page) shown in the source panel with a safe link, and documents and web
results whose text is an XSS payload, shown as text everywhere, with nothing executed."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import trustme

from ingest.embedders.factory import EmbedderChoice
from rag.components import build_indexing
from rag.settings import RagSettings, WebSettings
from rag.web_client import SearchProxyClient
from search_proxy.app import create_app as create_proxy_app
from search_proxy.settings import HttpSettings, Settings
from tests.e2e.browser.conftest import XSS, Serve, ask, assert_nothing_ran, screenshot
from tests.fakes.llm_server import FakeLLMServer, Script
from tests.fakes.servers import ServerThread
from tests.integration.search_proxy.sp_fakes import FakeProviders, Reply, searxng_ok
from tests.integration.search_proxy.sp_pages import ARTICLE_SENTENCE, PageSite
from tests.integration.search_proxy.sp_servers import LOCAL

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

PROXY_KEY = "browser-tests-proxy-key"
XSS_DOC = f"Dock wiring notes\n\nThe charging dock wiring note says: {XSS}\n\nThe dock needs a 16 A circuit.\n"


@dataclass
class Web:
    url: str  # the workspace
    llm: FakeLLMServer
    providers: FakeProviders
    pages_url: str


@pytest.fixture(scope="module")
def web(
    serve: Serve, docs_data: Path, tmp_path_factory: pytest.TempPathFactory, bundled_embedder: Any
) -> Iterator[Web]:
    """The workspace with web search through the real proxy, and a knowledge base ``untrusted``."""
    folder = tmp_path_factory.mktemp("web")
    ca = trustme.CA()
    cert = ca.issue_cert("localhost", "127.0.0.1")
    ca_pem, cert_pem, key_pem = folder / "ca.pem", folder / "cert.pem", folder / "key.pem"
    ca.cert_pem.write_to_path(str(ca_pem))
    for i, pem in enumerate(cert.cert_chain_pems):
        pem.write_to_path(str(cert_pem), append=i > 0)
    cert.private_key_pem.write_to_path(str(key_pem))

    untrusted = folder / "untrusted"
    untrusted.mkdir()
    (untrusted / "dock_wiring.txt").write_text(XSS_DOC, encoding="utf-8")
    data = folder / "data"
    shutil.copytree(docs_data, data)
    indexing = build_indexing(RagSettings(data_dir=data), embedder_choice=EmbedderChoice(bundled_embedder, "t"))
    with indexing.jobs.open("untrusted", workers=0) as job:
        job.run([untrusted], delete_missing=False)

    providers, site = FakeProviders(), PageSite()
    with (
        ServerThread(providers.app, certfile=str(cert_pem), keyfile=str(key_pem), host_name="localhost") as prov,
        ServerThread(site.app) as pages,
    ):
        proxy_settings = Settings(
            server={"api_key": PROXY_KEY},
            http=HttpSettings(ca_bundle=ca_pem, retries=0, read_timeout_s=3.0),
            fetch={"allow_networks": LOCAL},
            cache={"enabled": False},
            providers={"order": ["searxng"], "searxng": {"base_url": f"{prov.base_url}/searxng"}},
        )
        with (
            ServerThread(create_proxy_app(proxy_settings)) as proxy,
            FakeLLMServer() as llm,
            serve(
                data,
                llm,
                retrieval={"top_k": 2},  # knowledge-base sources 1-2, web sources 3-4
                web=WebSettings(proxy_url=proxy.base_url, api_key=PROXY_KEY, results=2, fetch_pages=1),
                web_client=SearchProxyClient(proxy.base_url, PROXY_KEY),
            ) as url,
        ):
            yield Web(url, llm, providers, pages.base_url)


@pytest.fixture(autouse=True)
def _reset(web: Web) -> None:
    web.providers.reset()
    web.llm.default = Script(reasoning="Checked.", answer="See [citation:1].")


def test_a_web_source_opens_with_its_site_title_extract_and_a_safe_link(web: Web, page: Any) -> None:
    article = f"{web.pages_url}/article"
    results = [("Dock installation guide", article, "dock install"), (XSS, f"{web.pages_url}/missing", XSS)]
    web.providers.script("searxng", Reply(body=searxng_ok(results)))
    page.goto(f"{web.url}/")
    page.get_by_test_id("web-mode").select_option("on")
    web.llm.push(Script(reasoning="Web and docs.", answer="From the web [citation:3] and docs [citation:1]."))
    ask(page, "What circuit does the charging dock need?")

    items = page.get_by_test_id("source-item")
    web_items = items.filter(has=page.locator(".badge"))
    assert [web_items.nth(i).get_attribute("data-source-id") for i in range(web_items.count())] == ["3", "4"]
    assert_nothing_ran(page)  # the XSS title and snippet of the second web result stay text
    assert "window.__xss=2" in web_items.nth(1).inner_text()

    chip = page.locator("[data-testid=citation-chip][data-source-id='3']")
    chip.click()
    panel = page.get_by_test_id("source-panel")
    panel.locator(".web-source").wait_for()
    assert "Dock installation guide" in panel.inner_text()
    assert "127.0.0.1" in panel.inner_text()  # the site
    assert ARTICLE_SENTENCE[:40] in panel.inner_text()  # the fetched extract
    link = panel.locator("a[target=_blank]")
    assert link.get_attribute("href") == article
    assert link.get_attribute("rel") == "noopener noreferrer"
    screenshot(page, "web-source")
    for i in range(web_items.count()):  # the XSS web result's panel too
        web_items.nth(i).locator("button").click()
        assert_nothing_ran(page)
    assert page.problems == []


def test_a_document_whose_text_is_an_xss_payload_is_shown_as_text(web: Web, page: Any) -> None:
    web.llm.push(Script(reasoning=f"The note says {XSS}", answer=f"The dock needs 16 A [citation:1]. {XSS}"))
    page.goto(f"{web.url}/")
    page.get_by_test_id("kb-select").select_option("untrusted")
    ask(page, "What does the dock wiring note say?")
    first = page.get_by_test_id("source-item").first
    assert "onerror" in first.inner_text()  # the payload is there, as text
    page.get_by_test_id("thinking-toggle").click()
    page.get_by_test_id("citation-chip").first.hover()  # the tooltip shows the passage
    page.get_by_test_id("citation-tooltip").wait_for()
    page.get_by_test_id("citation-chip").first.click()  # the chunk in its document context
    page.get_by_test_id("source-panel").locator(".chunk.cited").wait_for()
    assert "onerror" in page.get_by_test_id("source-panel").inner_text()
    page.get_by_test_id("kb-page-link").click()  # the documents page lists its name
    page.get_by_test_id("document-row").first.wait_for()
    assert_nothing_ran(page)
    assert page.problems == []
