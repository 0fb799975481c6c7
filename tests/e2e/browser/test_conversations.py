"""Conversations in the workspace: follow-ups carry the history (never R1's reasoning), the
sidebar keeps conversations in the browser (rename, delete, reload), "copy answer" gives Markdown
with footnotes, and the page speaks the browser's language until the analyst switches it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.browser.conftest import Serve, ask, screenshot
from tests.fakes.llm_server import FakeLLMServer, Script

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

SECRET_REASONING = "PRIVATE-CHAIN-OF-THOUGHT: the dock manual says so."


@pytest.fixture(scope="module")
def llm() -> Iterator[FakeLLMServer]:
    with FakeLLMServer() as server:
        yield server


@pytest.fixture(autouse=True)
def _script(llm: FakeLLMServer) -> None:
    llm.default = Script(reasoning=SECRET_REASONING, answer="The warranty lasts 27 months [citation:1].")


@pytest.fixture(scope="module")
def workspace(serve: Serve, docs_data: Path, llm: FakeLLMServer) -> Iterator[str]:
    with serve(docs_data, llm) as url:
        yield url


def test_a_follow_up_sends_the_history_without_the_reasoning(workspace: str, page: Any, llm: FakeLLMServer) -> None:
    page.goto(f"{workspace}/")
    ask(page, "How long is the battery warranty?")
    llm.push(Script(reasoning="Second thought.", answer="It starts at delivery [citation:1]."))
    ask(page, "And when does it start?")
    assert page.locator("article.turn").count() == 2
    messages = llm.requests[-1].body["messages"]
    sent = "\n".join(str(m["content"]) for m in messages)
    assert "How long is the battery warranty?" in sent and "The warranty lasts 27 months" in sent
    assert "PRIVATE-CHAIN-OF-THOUGHT" not in sent  # reasoning is never sent back
    assert [m["role"] for m in messages][-3:-1] == ["user", "assistant"]
    assert page.problems == []


def test_conversations_are_kept_renamed_and_deleted_in_the_sidebar(workspace: str, page: Any) -> None:
    page.goto(f"{workspace}/")
    ask(page, "How long is the battery warranty?")
    page.get_by_test_id("new-conversation").click()
    ask(page, "What does the NW-200 carry?")
    items = page.get_by_test_id("conversation-item")
    assert items.count() == 2
    assert "NW-200" in items.first.inner_text()  # newest first, named by its first question

    page.once("dialog", lambda d: d.accept("Dock questions"))
    items.first.get_by_test_id("rename-conversation").click()
    page.wait_for_function(
        "() => document.querySelector('[data-testid=conversation-item]').innerText.includes('Dock questions')"
    )
    page.reload()  # kept in the browser
    items = page.get_by_test_id("conversation-item")
    items.first.wait_for()
    assert items.count() == 2 and "Dock questions" in items.first.inner_text()
    items.nth(1).locator(".conversation-open").click()
    assert "battery warranty" in page.locator("article.turn .question").first.inner_text()

    messages: list[str] = []
    page.once("dialog", lambda d: (messages.append(d.message), d.dismiss()))  # cancel keeps it
    items.first.get_by_test_id("delete-conversation").click()
    assert items.count() == 2 and "Dock questions" in messages[0]
    page.once("dialog", lambda d: d.accept())
    items.first.get_by_test_id("delete-conversation").click()
    page.wait_for_function("() => document.querySelectorAll('[data-testid=conversation-item]').length === 1")
    page.reload()
    page.get_by_test_id("conversation-item").first.wait_for()
    assert page.get_by_test_id("conversation-item").count() == 1
    assert "Dock questions" not in page.get_by_test_id("conversation-list").inner_text()
    screenshot(page, "conversations")
    assert page.problems == []


def test_copy_answer_gives_markdown_with_footnotes(workspace: str, new_page: Any) -> None:
    page = new_page(permissions=["clipboard-read", "clipboard-write"])
    page.goto(f"{workspace}/")
    ask(page, "How long is the battery warranty?")
    title = page.get_by_test_id("source-item").first.locator(".source-title").inner_text()
    page.get_by_test_id("copy-answer").click()
    page.wait_for_function("() => document.querySelector('[data-testid=copy-answer]').innerText === 'Copied'")
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied.startswith("The warranty lasts 27 months [^1].")
    assert f"[^1]: {title}" in copied
    assert "citation:" not in copied
    assert page.problems == []


def test_the_page_speaks_the_browser_language_until_switched(workspace: str, new_page: Any) -> None:
    page = new_page(locale="zh-CN")
    page.goto(f"{workspace}/")
    assert page.get_by_test_id("ask-button").inner_text() == "提问"
    assert page.evaluate("document.documentElement.lang") == "zh-CN"
    ask(page, "电池保修多久？")
    assert page.get_by_test_id("sources").locator("h3").inner_text() == "来源"
    screenshot(page, "chinese")
    page.get_by_test_id("lang-switch").select_option("en")
    assert page.get_by_test_id("ask-button").inner_text() == "Ask"
    assert page.get_by_test_id("sources").locator("h3").inner_text().lower() == "sources"
    page.reload()  # the choice is remembered
    assert page.get_by_test_id("ask-button").inner_text() == "Ask"
    assert page.problems == []
