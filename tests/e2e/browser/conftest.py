"""Shared parts of the browser tests: Debian's chromium through Playwright (never a downloaded
browser), a knowledge base built from data/ once per worker, a real app on 127.0.0.1 over it,
and screenshots of the main states kept as test artifacts."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from ingest.embedders.factory import EmbedderChoice
from rag.api.app import create_app
from rag.api.routes.workspace import UI_DIR
from rag.components import build_components
from rag.settings import RagSettings
from tests.fakes.llm_server import FakeLLMServer
from tests.fakes.servers import ServerThread
from tests.integration.service.conftest import llm_settings

ROOT = Path(__file__).resolve().parents[3]
ARTIFACTS = ROOT / "test-artifacts" / "browser"
SENTINEL = "__xss"  # the global every XSS payload in these tests tries to set
XSS = (
    f'<img src=x onerror="window.{SENTINEL}=1"> <script>window.{SENTINEL}=2</script> '
    f'[x](javascript:window.{SENTINEL}=3) <a href="javascript:window.{SENTINEL}=4">y</a>'
)
# Chromium's own network chatter has nowhere to go on a closed machine: switch it off.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# What the browser logs by itself for an answer that is an HTTP error the test provoked.
EXPECTED_CONSOLE = ("Failed to load resource",)

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

Serve = Callable[..., Any]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One chromium per test file. Not per session: Playwright's sync API keeps its event loop
    running on the main thread while it is open, and the asyncio tests that a worker runs after
    the browser files could not start their own loop."""
    from playwright.sync_api import sync_playwright

    assert (UI_DIR / "index.html").is_file(), "the workspace is not built: run scripts/build_ui.sh"
    chromium = shutil.which("chromium")
    assert chromium, "Debian's chromium is missing: apt-get install chromium (scripts/test.sh does it as root)"
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def new_page(browser: Any) -> Iterator[Callable[..., Any]]:
    """Pages in fresh browser contexts (own storage); each keeps the page errors it saw."""
    contexts: list[Any] = []

    def make(locale: str = "en-US", **options: Any) -> Any:
        context = browser.new_context(locale=locale, **options)
        context.set_default_timeout(30_000)
        contexts.append(context)
        page = context.new_page()
        problems: list[str] = []
        page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
        page.on(
            "console",
            lambda m: (
                problems.append(m.text) if m.type == "error" and not m.text.startswith(EXPECTED_CONSOLE) else None
            ),
        )
        page.problems = problems
        return page

    yield make
    for context in contexts:
        context.close()


@pytest.fixture
def page(new_page: Callable[..., Any]) -> Any:
    return new_page()


@pytest.fixture(scope="session")
def docs_data(tmp_path_factory: pytest.TempPathFactory, bundled_embedder: Any) -> Path:
    """A data directory whose knowledge base ``docs`` holds every file of data/ (built once)."""
    folder = tmp_path_factory.mktemp("browser-docs")
    components = build_components(RagSettings(data_dir=folder), embedder_choice=EmbedderChoice(bundled_embedder, "t"))
    with components.jobs.open("docs", workers=0) as job:
        report = job.run([ROOT / "data"], delete_missing=False)
    assert len(report.indexed) == len(list((ROOT / "data").iterdir()))
    return folder


@pytest.fixture
def data_copy(docs_data: Path, tmp_path: Path) -> Path:
    """A private copy of ``docs_data`` for a test that changes the knowledge base."""
    target = tmp_path / "data"
    shutil.copytree(docs_data, target)
    return target


@pytest.fixture(scope="session")
def serve(bundled_embedder: Any) -> Serve:
    """``with serve(data_dir, llm=..., **settings) as url``: the real app on 127.0.0.1."""

    @contextmanager
    def run(data_dir: Path, llm: FakeLLMServer | None = None, **overrides: Any) -> Iterator[str]:
        values: dict[str, Any] = {"data_dir": data_dir, "rate_limit": {"requests_per_minute": 1000}}
        if llm is not None:
            values["llm"] = llm_settings(llm)
        web = overrides.pop("web_client", None)
        values.update(overrides)
        settings = RagSettings(**values)
        extra = {"web": web} if web is not None else {}
        components = build_components(settings, embedder_choice=EmbedderChoice(bundled_embedder, "t"), **extra)
        with ServerThread(create_app(settings, components)) as server:
            yield server.base_url

    return run


def screenshot(page: Any, name: str) -> Path:
    """Keep a picture of a state as a test artifact (test-artifacts/browser/NAME.png)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def ask(page: Any, question: str, *, wait_done: bool = True) -> None:
    """Type a question and send it; by default wait until its answer has ended (any way)."""
    turns = page.locator("article.turn").count()
    page.get_by_test_id("question-input").fill(question)
    page.get_by_test_id("ask-button").click()
    page.wait_for_function(
        "n => { const t = document.querySelectorAll('article.turn'); return t.length > n; }", arg=turns
    )
    if wait_done:
        wait_answer_ended(page)


def wait_answer_ended(page: Any, timeout_ms: int = 60_000) -> None:
    page.wait_for_function(
        "() => { const t = document.querySelectorAll('article.turn');"
        " return t.length > 0 && t[t.length - 1].dataset.status !== 'streaming'; }",
        timeout=timeout_ms,
    )


def assert_nothing_ran(page: Any) -> None:
    """No XSS payload executed and none left an element or link behind."""
    assert page.evaluate(f"window.{SENTINEL}") is None
    assert page.locator("img[src='x'], [onerror], a[href^='javascript'], script:not([src])").count() == 0
