"""The workspace in a real browser (Debian's chromium through Playwright, no downloaded browser)
against a real app over data/ and the fake R1: a streamed answer with citation chips, a PDF source
opened at its page, untrusted text that never executes, and the knowledge-base page."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rag.api.app import create_app
from rag.api.routes.workspace import UI_DIR
from rag.components import build_components
from rag.settings import RagSettings
from tests.fakes.llm_server import FakeLLMServer, Script
from tests.fakes.servers import ServerThread
from tests.integration.service.conftest import llm_settings

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[3]
XSS = '<img src=x onerror="window.__xss=1"> <script>window.__xss=2</script> [x](javascript:window.__xss=3)'
ANSWER = f"Batteries are covered for **27 months** [citation:1]; see also [citation:2] and [citation:99]. {XSS}"


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory, bundled_embedder: Any) -> Iterator[str]:
    from ingest.embedders.factory import EmbedderChoice

    assert (UI_DIR / "index.html").is_file(), "the workspace is not built: run scripts/build_ui.sh"
    data = tmp_path_factory.mktemp("browser-data")
    script = Script(reasoning="The warranty policy answers this. 先看保修政策。", answer=ANSWER, chunk_size=3)
    with FakeLLMServer(script) as llm:
        settings = RagSettings(data_dir=data, llm=llm_settings(llm), rate_limit={"requests_per_minute": 1000})
        components = build_components(settings, embedder_choice=EmbedderChoice(bundled_embedder, "test"))
        with components.jobs.open("docs", workers=0) as job:
            job.run([ROOT / "data"], delete_missing=False)
        with ServerThread(create_app(settings, components)) as server:
            yield server.base_url


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium")
    assert chromium, "Debian's chromium is missing: apt-get install chromium (scripts/test.sh does it as root)"
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(locale="en-US")
    opened = context.new_page()
    problems: list[str] = []
    opened.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    opened.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    opened.problems = problems
    yield opened
    context.close()


def test_a_cited_answer_streams_and_a_pdf_source_opens_at_its_page(workspace: str, page: Any) -> None:
    page.goto(f"{workspace}/")
    page.get_by_test_id("question-input").fill("How long is the battery warranty?")
    page.get_by_test_id("ask-button").click()
    page.wait_for_selector("[data-testid=copy-answer]", timeout=60_000)  # shown once the answer is done

    answer = page.get_by_test_id("answer")
    assert "27 months" in answer.inner_text()
    chips = page.get_by_test_id("citation-chip")
    assert [chips.nth(i).get_attribute("data-source-id") for i in range(chips.count())] == ["1", "2"]
    assert "citation:99" not in answer.inner_text()  # dropped by the server, never a chip
    assert page.get_by_test_id("source-item").count() >= 2

    # untrusted text is shown as text: nothing ran, no element or link came from it
    assert page.evaluate("window.__xss") is None
    assert answer.locator("img, script, [onerror]").count() == 0
    assert answer.locator("a[href^='javascript']").count() == 0

    page.get_by_test_id("thinking-toggle").click()
    assert "保修政策" in page.get_by_test_id("thinking-panel").inner_text()  # Chinese intact after streaming

    chips.first.click()
    panel = page.get_by_test_id("source-panel")
    panel.locator("[data-testid=pdf-viewer] canvas").first.wait_for(timeout=30_000)
    assert "Warranty Policy" in panel.inner_text()

    page.get_by_test_id("kb-page-link").click()  # the documents page gets the whole width
    page.get_by_test_id("documents-table").wait_for(timeout=30_000)
    assert page.get_by_test_id("source-panel").count() == 0
    assert page.problems == []


def test_the_knowledge_base_page_lists_every_document(workspace: str, page: Any) -> None:
    page.goto(f"{workspace}/#/kb/docs")
    rows = page.get_by_test_id("document-row")
    rows.first.wait_for(timeout=30_000)
    assert rows.count() == len(list((ROOT / "data").iterdir()))
    assert "warranty_policy.pdf" in page.get_by_test_id("documents-table").inner_text()
    assert page.problems == []
