"""The knowledge-base page: every document with its status, files dropped in with per-file
progress and indexed by a job the page follows to its end (a corrupt one failing with its
reason), deletion, a re-index, and the uploaded file answering the next question."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.browser.conftest import ROOT, Serve, ask, screenshot
from tests.fakes.llm_server import FakeLLMServer, Script

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

GANTRY = "The Zephyr-9 gantry robot lifts a payload of 42 tonnes and needs a 63 A supply.\n"
FINAL = (
    "() => ['succeeded', 'partial', 'failed']"
    ".includes(document.querySelector('[data-testid=job-status]')?.dataset.state)"
)


@pytest.fixture
def workspace(serve: Serve, data_copy: Path) -> Iterator[tuple[str, FakeLLMServer]]:
    with (
        FakeLLMServer(Script(reasoning="Found it.", answer="42 tonnes [citation:1].")) as llm,
        serve(data_copy, llm) as url,
    ):
        yield url, llm


def _drop(page: Any, files: dict[str, bytes]) -> None:
    """Drop files on the upload zone the way a browser does (a DataTransfer on a drop event)."""
    payload = [{"name": n, "b64": base64.b64encode(b).decode()} for n, b in files.items()]
    transfer = page.evaluate_handle(
        """files => { const dt = new DataTransfer();
           for (const f of files) {
             const bytes = Uint8Array.from(atob(f.b64), c => c.charCodeAt(0));
             dt.items.add(new File([bytes], f.name));
           }
           return dt; }""",
        payload,
    )
    zone = page.get_by_test_id("upload-zone")
    zone.dispatch_event("dragover", {"dataTransfer": transfer})
    zone.dispatch_event("drop", {"dataTransfer": transfer})


def _rows(page: Any) -> dict[str, str]:
    rows = page.get_by_test_id("document-row")
    return {r.locator("td").first.inner_text().strip(): r.inner_text() for r in rows.all()}


def test_the_page_lists_every_document_with_its_details(serve: Serve, docs_data: Path, page: Any) -> None:
    with serve(docs_data) as url:
        page.goto(f"{url}/#/kb/docs")
        page.get_by_test_id("document-row").first.wait_for()
        rows = _rows(page)
        assert sorted(rows) == sorted(p.name for p in (ROOT / "data").iterdir())
        pdf = rows["warranty_policy.pdf"]
        assert "pdf" in pdf.lower() and "indexed" in pdf
        screenshot(page, "documents")
    assert page.problems == []


def test_dropped_files_are_indexed_a_corrupt_one_fails_with_its_reason_and_the_new_one_answers(
    workspace: tuple[str, FakeLLMServer], page: Any
) -> None:
    url, _llm = workspace
    page.goto(f"{url}/#/kb/docs")
    page.get_by_test_id("document-row").first.wait_for()
    _drop(page, {"zephyr_gantry.txt": GANTRY.encode(), "broken_scan.pdf": b"%PDF-1.7\n this is not a PDF at all"})
    progress = page.get_by_test_id("upload-progress")
    progress.nth(1).wait_for()
    assert progress.count() == 2  # one progress line per file
    page.wait_for_function(
        "() => [...document.querySelectorAll('[data-testid=upload-progress]')].every(e => e.dataset.state === 'done')"
    )
    page.wait_for_function(FINAL, timeout=120_000)
    page.wait_for_function(  # two uploads are two jobs: the table shows both files once the later has ended
        "() => ['broken_scan.pdf', 'zephyr_gantry.txt'].every("
        "n => document.querySelector('[data-testid=documents-table]').innerText.includes(n))"
    )
    rows = _rows(page)
    assert "indexed" in rows["zephyr_gantry.txt"]
    assert "failed" in rows["broken_scan.pdf"]
    failed_row = page.locator("[data-testid=document-row].failed")
    assert (
        failed_row.count() == 1
        and len(failed_row.locator("td").last.inner_text().strip()) > 0
        or any(len(c.strip()) > 5 for c in failed_row.locator("td").all_inner_texts()[1:])
    )
    screenshot(page, "upload")

    page.goto(f"{url}/#/")
    ask(page, "What payload does the Zephyr-9 gantry lift?")
    titles = page.get_by_test_id("source-item").locator(".source-title").all_inner_texts()
    assert any("zephyr" in t.lower() for t in titles[:3]), titles

    # an uploaded file is deleted with its document: nothing brings it back
    page.goto(f"{url}/#/kb/docs")
    row = page.locator("[data-testid=document-row]", has_text="zephyr_gantry.txt")
    asked: list[str] = []
    page.once("dialog", lambda d: (asked.append(d.message), d.accept()))
    row.get_by_test_id("delete-document").click()
    row.wait_for(state="detached")
    assert "zephyr_gantry.txt" in asked[0] and "re-index" not in asked[0]
    assert page.problems == []


def test_a_document_is_deleted_and_a_re_index_runs_to_its_end(workspace: tuple[str, FakeLLMServer], page: Any) -> None:
    url, _llm = workspace
    page.goto(f"{url}/#/kb/docs")
    page.get_by_test_id("document-row").first.wait_for()
    before = len(_rows(page))
    row = page.locator("[data-testid=document-row]", has_text="price_list_2025.csv")
    doc_id = row.get_attribute("data-doc-id")
    asked: list[str] = []
    page.once("dialog", lambda d: (asked.append(d.message), d.accept()))
    row.get_by_test_id("delete-document").click()
    page.wait_for_function("n => document.querySelectorAll('[data-testid=document-row]').length === n", arg=before - 1)
    listed = httpx.get(f"{url}/kbs/docs/documents", params={"limit": 100}, timeout=10).json()["documents"]
    assert doc_id not in {d["doc_id"] for d in listed}
    assert "price_list_2025.csv" in asked[0] and "re-index adds it again" in asked[0]  # a folder's file comes back

    page.get_by_test_id("reindex-button").click()
    page.get_by_test_id("job-status").wait_for()
    page.wait_for_function(FINAL, timeout=120_000)
    state = page.get_by_test_id("job-status").get_attribute("data-state")
    assert state in {"succeeded", "partial"}, page.get_by_test_id("job-status").inner_text()
    # the re-index mirrored the folder the knowledge base was built from: the deleted file is back
    page.wait_for_function("n => document.querySelectorAll('[data-testid=document-row]').length === n", arg=before)
    assert "indexed" in _rows(page)["price_list_2025.csv"]
    assert page.problems == []
