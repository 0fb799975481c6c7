"""What the CLI prints is the text it was given: square brackets in paths, reasons, titles and
error messages are shown, not read as rich markup and dropped."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from ingest.discovery import SkippedPath
from ingest.manifest import FileRecord
from ingest.progress import FileOutcome
from ingest.reindex import DiskFile, Plan, ReindexReport
from rag.cli import output as ui

pytestmark = pytest.mark.unit


def test_plans_and_reports_show_bracketed_names_and_reasons(capsys: pytest.CaptureFixture[str]) -> None:
    plan = Plan(
        new=[DiskFile("/docs/report [draft].pdf", 1, 1)],
        deleted=[
            FileRecord(path="/docs/[old] notes.md", size=1, mtime_ns=1, content_hash="", doc_id="d", status="indexed")
        ],
        skipped=[SkippedPath("/docs/data [raw].xyz", "unsupported file type '.xyz'")],
    )
    ui.print_plan(plan, as_json=False, refusal="pip install 'askdocs[ray]' first")
    report = ReindexReport(kb="kb", embedding_model="m", plan=plan)
    report.failed.append(FileOutcome("/docs/scan [v2].pdf", "skipped", reason="needs [ocr] support"))
    report.repaired.append("writing /docs/[tmp].md")
    ui.print_reindex_report(report)
    shown = capsys.readouterr()
    printed = shown.out + shown.err
    for text in ("report [draft].pdf", "[old] notes.md", "data [raw].xyz", "askdocs[ray]", "scan [v2].pdf"):
        assert text in printed, text
    assert "needs [ocr] support" in printed and "writing /docs/[tmp].md" in printed


def test_an_error_message_keeps_its_brackets() -> None:
    from rag.cli.commands import app

    result = CliRunner().invoke(app, ["reindex", "s3://[bucket]/x", "--kb", "kb"])
    assert result.exit_code == 1
    assert "s3://[bucket]/x" in result.output, result.output
