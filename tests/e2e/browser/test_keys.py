"""API keys in the workspace: asked for once, kept in sessionStorage only, asked again after a
401, and a knowledge base the key may not read looks exactly like one that does not exist."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ingest.embedders.factory import EmbedderChoice
from rag.components import build_indexing
from rag.settings import RagSettings
from tests.e2e.browser.conftest import Serve, ask, screenshot
from tests.fakes.llm_server import FakeLLMServer, Script
from tests.integration.service.conftest import MIXED, PEPPER, key, write_key_file

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

STORAGE = "askdocs.apiKey"


@pytest.fixture(scope="module")
def keyed(
    serve: Serve, docs_data: Path, tmp_path_factory: pytest.TempPathFactory, bundled_embedder: Any
) -> Iterator[str]:
    """The workspace with keys on, over ``docs`` and a ``secret`` knowledge base."""
    data = tmp_path_factory.mktemp("keyed") / "data"
    shutil.copytree(docs_data, data)
    indexing = build_indexing(RagSettings(data_dir=data), embedder_choice=EmbedderChoice(bundled_embedder, "t"))
    with indexing.jobs.open("secret", workers=0) as job:
        job.run([MIXED], delete_missing=False)
    keys = write_key_file(tmp_path_factory.mktemp("keys") / "keys.toml")
    with (
        FakeLLMServer(Script(reasoning="Checked.", answer="27 months [citation:1].")) as llm,
        serve(data, llm, auth={"keys_file": keys, "pepper": PEPPER}) as url,
    ):
        yield url


def _enter_key(page: Any, value: str) -> None:
    dialog = page.get_by_test_id("api-key-dialog")
    dialog.wait_for()
    page.get_by_test_id("api-key-input").fill(value)
    page.get_by_test_id("api-key-submit").click()


def _kb_options(page: Any) -> list[str]:
    select = page.get_by_test_id("kb-select")
    page.wait_for_function("() => !document.querySelector('[data-testid=kb-select]').disabled")
    return [v.split(" (")[0] for v in select.locator("option").all_inner_texts()]


def test_the_key_is_asked_once_kept_for_the_tab_and_scopes_the_knowledge_bases(keyed: str, new_page: Any) -> None:
    page = new_page()
    page.goto(f"{keyed}/")
    page.get_by_test_id("api-key-dialog").wait_for()
    screenshot(page, "api-key")
    _enter_key(page, "not-a-key")
    rejected = page.get_by_test_id("api-key-dialog").inner_text()
    assert "not accepted" in rejected  # asked again, saying why
    _enter_key(page, key("team"))
    assert _kb_options(page) == ["docs"]  # never "secret": this key may not read it

    ask(page, "How long is the battery warranty?")
    assert "27 months" in page.get_by_test_id("answer").inner_text()
    assert page.evaluate(f"sessionStorage.getItem('{STORAGE}')") == key("team")
    local = page.evaluate("JSON.stringify(Object.entries(localStorage))")
    assert key("team") not in local and key("team") not in page.url

    page.reload()  # the same tab keeps it
    assert _kb_options(page) == ["docs"]
    assert page.get_by_test_id("api-key-dialog").count() == 0

    other_tab = new_page()  # another browsing context has no key
    other_tab.goto(f"{keyed}/")
    other_tab.get_by_test_id("api-key-dialog").wait_for()
    assert page.problems == [] and other_tab.problems == []


def test_a_rejected_key_is_asked_for_again_and_the_question_goes_through(keyed: str, page: Any) -> None:
    page.goto(f"{keyed}/")
    _enter_key(page, key("team"))
    _kb_options(page)
    page.evaluate(f"sessionStorage.setItem('{STORAGE}', 'revoked-key')")  # as if the key was revoked meanwhile
    ask(page, "How long is the battery warranty?", wait_done=False)
    _enter_key(page, key("team"))
    page.wait_for_selector("[data-testid=copy-answer]")
    assert "27 months" in page.get_by_test_id("answer").inner_text()
    assert page.problems == []


def test_a_knowledge_base_the_key_may_not_read_looks_like_one_that_does_not_exist(keyed: str, page: Any) -> None:
    page.goto(f"{keyed}/")
    _enter_key(page, key("team"))
    _kb_options(page)
    messages = []
    for kb in ("secret", "no-such-kb"):
        page.goto(f"{keyed}/#/kb/{kb}")
        error = page.get_by_test_id("error-message").first
        error.wait_for()
        messages.append(error.inner_text())
    assert messages[0] == messages[1]
    assert "No such knowledge base for this key" in messages[0]
    assert page.get_by_test_id("document-row").count() == 0
    assert page.problems == []
