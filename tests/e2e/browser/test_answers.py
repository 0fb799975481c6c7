"""Asking in the workspace: sources first, R1's reasoning in its own panel (every shape the
endpoints send it in), the answer as safe Markdown with citation chips that open the cited
passage (a PDF at its page, other formats in their document context), and the retrieval-only
mode when no model is configured."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.e2e.browser.conftest import XSS, Serve, ask, assert_nothing_ran, screenshot
from tests.fakes.llm_server import FakeLLMServer, Script

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

REASONING = "The warranty policy answers this. 先看保修政策，再看电池条款。"
ANSWER = f"Batteries are covered for **27 months** [citation:1]; see also [citation:2] and [citation:99]. {XSS}"
QUESTION = "How long is the battery warranty?"


@pytest.fixture(scope="module")
def llm() -> Any:
    with FakeLLMServer(Script(reasoning=REASONING, answer=ANSWER, chunk_size=3)) as server:
        yield server


@pytest.fixture(scope="module")
def workspace(serve: Serve, docs_data: Path, llm: FakeLLMServer) -> Any:
    with serve(docs_data, llm) as url:
        yield url


@pytest.fixture(autouse=True)
def _default_script(llm: FakeLLMServer) -> None:
    llm.default = Script(reasoning=REASONING, answer=ANSWER, chunk_size=3)


def test_a_cited_answer_streams_and_a_pdf_source_opens_at_its_page(workspace: str, page: Any) -> None:
    page.goto(f"{workspace}/")
    ask(page, QUESTION)
    answer = page.get_by_test_id("answer")
    assert "27 months" in answer.inner_text()
    assert answer.locator("strong").inner_text() == "27 months"  # Markdown, rendered
    chips = page.get_by_test_id("citation-chip")
    assert [chips.nth(i).get_attribute("data-source-id") for i in range(chips.count())] == ["1", "2"]
    assert "citation:99" not in answer.inner_text()  # a citation of no source is never a chip
    assert page.get_by_test_id("source-item").count() >= 2
    assert_nothing_ran(page)  # the model's XSS is text, nothing ran
    assert "<script>" in answer.inner_text() or "onerror" in answer.inner_text()

    # the reasoning collapsed when the answer started, and reopens: once, intact, with its time
    panel = page.get_by_test_id("thinking-panel")
    page.get_by_test_id("thinking-toggle").click()
    assert panel.inner_text().count("先看保修政策，再看电池条款。") == 1
    assert "保修政策" not in answer.inner_text()
    assert page.get_by_test_id("thinking-elapsed").inner_text().strip()
    screenshot(page, "answer")

    chips.first.click()
    source = page.get_by_test_id("source-panel")
    source.locator("[data-testid=pdf-viewer] canvas").first.wait_for()
    assert source.get_attribute("data-source-id") == "1"
    assert "Warranty Policy" in source.inner_text()
    source.locator(".highlight").first.wait_for()  # the passage is marked in the page's text layer
    screenshot(page, "pdf-source")
    assert page.problems == []


def test_a_chip_shows_its_passage_on_keyboard_focus_and_a_text_source_opens_in_context(
    workspace: str, page: Any, llm: FakeLLMServer
) -> None:
    llm.push(Script(reasoning="Look at the FAQ.", answer="年假政策见来源 [citation:1]。", chunk_size=2))
    page.goto(f"{workspace}/")
    ask(page, "年假有多少天？")
    chip = page.get_by_test_id("citation-chip").first
    chip.focus()
    tip = page.get_by_test_id("citation-tooltip")
    tip.wait_for()
    first = page.get_by_test_id("source-item").first
    title = first.locator(".source-title").inner_text()
    assert title in tip.inner_text()
    assert _words(first.locator(".source-snippet").inner_text())[:20] in _words(tip.inner_text())
    page.keyboard.press("Escape")
    assert tip.count() == 0

    page.keyboard.press("Enter")  # the focused chip opens its source
    context = page.get_by_test_id("source-panel").get_by_test_id("chunk-context")
    cited = context.locator(".chunk.cited")
    cited.wait_for()
    assert cited.get_attribute("aria-current") == "true"
    if not title.lower().endswith(".pdf"):
        assert page.get_by_test_id("pdf-viewer").count() == 0
    assert page.problems == []


def _words(text: str) -> str:
    return " ".join(text.split())


@pytest.mark.parametrize("shape", ["reasoning_content", "reasoning", "think_tags", "closing_tag"])
def test_every_reasoning_shape_lands_in_the_thinking_panel_once(
    workspace: str, page: Any, llm: FakeLLMServer, shape: str
) -> None:
    llm.push(
        Script(
            shape=shape, reasoning="Weigh the two clauses first.", answer="It is 27 months [citation:1].", chunk_size=4
        )
    )
    page.goto(f"{workspace}/")
    ask(page, QUESTION)
    answer = page.get_by_test_id("answer").inner_text()
    assert "It is 27 months" in answer
    assert "Weigh the two clauses" not in answer and "think>" not in answer
    page.get_by_test_id("thinking-toggle").click()
    assert page.get_by_test_id("thinking-panel").inner_text().count("Weigh the two clauses first.") == 1
    assert page.problems == []


def test_without_a_model_the_ranked_passages_come_with_the_retrieval_only_notice(
    serve: Serve, docs_data: Path, page: Any
) -> None:
    with serve(docs_data) as url:
        page.goto(f"{url}/")
        ask(page, QUESTION)
        notice = page.get_by_test_id("notice")
        assert notice.inner_text().strip()
        assert page.get_by_test_id("source-item").count() >= 1
        assert page.get_by_test_id("answer").count() == 0  # never a fake answer
        assert page.get_by_test_id("thinking-panel").count() == 0
        screenshot(page, "retrieval-only")
    assert page.problems == []
