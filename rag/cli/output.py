"""Terminal rendering for the CLI: progress, summaries, streamed answers."""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.panel import Panel
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from ingest.embedders.factory import EmbedderChoice
from ingest.progress import FileOutcome, ProgressListener
from ingest.reindex import Plan, ReindexReport
from rag.types import AskResponse, Source

out = Console()
err = Console(stderr=True)


def warn_fallback(choice: EmbedderChoice) -> None:
    if choice.is_fallback:
        err.print(
            Panel(
                f"[bold]{escape(choice.requested)}[/bold] could not be loaded:\n"
                f"{escape(choice.fallback_reason or '')}\n\n"
                f"Using the bundled offline model [bold]{escape(choice.embedder.model_id)}[/bold] instead. "
                "It is small and English-only; knowledge bases built now are tied to it.",
                title="EMBEDDING MODEL FALLBACK",
                border_style="yellow",
            )
        )


class RichProgress(ProgressListener):
    """Files and chunks as they are processed, with chunks per second."""

    def __init__(self, console: Console) -> None:
        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[detail]}"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=console,
            transient=False,
        )
        self.files = self.progress.add_task("files", total=None, detail="")
        self.chunks = 0

    def __enter__(self) -> RichProgress:
        self.progress.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.__exit__(None, None, None)

    def files_found(self, total: int) -> None:
        self.progress.update(self.files, total=total)

    def file_done(self, outcome: FileOutcome) -> None:
        self.progress.advance(self.files)
        if outcome.status == "skipped":
            shown = escape(f"{outcome.path}: {outcome.reason}")
            self.progress.console.print(f"[yellow]skipped[/yellow] {shown}", highlight=False)

    def chunks_embedded(self, count: int) -> None:
        self.chunks += count
        elapsed = self.progress.tasks[self.files].elapsed or 0.0
        rate = self.chunks / elapsed if elapsed > 0 else 0.0
        self.progress.update(self.files, detail=f"{self.chunks} chunks, {rate:.1f} chunks/s")


def source_line(source: Source) -> str:
    where = source.uri
    if source.pages:
        where += f" p.{source.pages[0]}" if len(source.pages) == 1 else f" p.{source.pages[0]}-{source.pages[-1]}"
    score = f" score={source.score:.3f}" if source.score is not None else ""
    return f"[{source.id}] {escape(source.title)} — {escape(where)}{score}"


def print_sources(sources: list[Source], with_snippets: bool) -> None:
    if not sources:
        out.print("[yellow]no matching passages[/yellow]")
    for source in sources:
        out.print(source_line(source), highlight=False)
        if with_snippets:
            snippet = " ".join(source.snippet.split())
            shown = escape(snippet[:300] + ("…" if len(snippet) > 300 else ""))
            out.print(f"    {shown}", style="dim", highlight=False)


def print_footer(response: AskResponse) -> None:
    if response.citations:
        out.print(
            "\n[bold]cited:[/bold] " + ", ".join(f"[{c.source_id}] {escape(c.title)}" for c in response.citations)
        )
    for warning in response.warnings:
        err.print(f"[yellow]warning:[/yellow] {escape(str(warning))}")
    t = response.timings
    ttft = f", first token {t.llm_ttft_ms:.0f} ms" if t.llm_ttft_ms is not None else ""
    out.print(f"[dim]retrieval {t.retrieval_ms:.0f} ms{ttft}, total {t.total_ms:.0f} ms[/dim]")


def human_duration(seconds: float) -> str:
    """A duration a person reads at a glance: ``"400 ms"``, ``"2.7 s"``, ``"12 min 34 s"``, ``"2 h 02 min"``."""
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


class LogProgress(ProgressListener):
    """Plain periodic log lines (INFO, logger ``rag.progress``) for schedulers and CI, where a live
    bar would be noise. The estimate of the time left assumes the files left take as long each as
    the files done so far."""

    def __init__(self, every_s: float = 10.0) -> None:
        self.log = logging.getLogger("rag.progress")
        self.every_s = every_s
        self.started = time.monotonic()
        self.last = 0.0
        self.total = 0
        self.files = 0
        self.chunks = 0

    def files_found(self, total: int) -> None:
        self.total = total
        self.log.info("%d file(s) to index", total)

    def file_done(self, outcome: FileOutcome) -> None:
        self.files += 1
        if outcome.status == "skipped":
            self.log.warning("failed %s: %s", outcome.path, outcome.reason)
        self._maybe_report()

    def chunks_embedded(self, count: int) -> None:
        self.chunks += count
        self._maybe_report()

    def _maybe_report(self) -> None:
        now = time.monotonic()
        if now - self.last >= self.every_s or self.files == self.total:
            self.last = now
            elapsed = max(now - self.started, 1e-9)
            rate = self.chunks / elapsed
            left = self.total - self.files
            eta = human_duration(left * elapsed / self.files) if self.files and left else "unknown" if left else "0 s"
            self.log.info(
                "%d/%d files, %d chunks, %.1f chunks/s, %s elapsed, ETA %s",
                self.files,
                self.total,
                self.chunks,
                rate,
                human_duration(elapsed),
                eta,
            )


@contextmanager
def progress_for(console: Console) -> Iterator[ProgressListener]:
    """A live bar on a terminal, periodic log lines otherwise."""
    if console.is_terminal:
        with RichProgress(console) as bar:
            yield bar
    else:
        yield LogProgress()


def print_plan(plan: Plan, as_json: bool, refusal: str | None = None) -> None:
    """The plan of a ``--dry-run``; ``refusal`` says why a real run would refuse to delete."""
    groups: dict[str, list[str]] = {
        "new": [f.path for f in plan.new],
        "changed": [f.path for f in plan.changed],
        "deleted": [r.path for r in plan.deleted],
        "unchanged": plan.unchanged,
        "failing": [r.path for r in plan.failing],
    }
    skipped = [{"path": s.path, "reason": s.reason} for s in plan.skipped]
    if as_json:
        body: dict[str, object] = {**groups, "skipped": skipped, "refused": refusal}
        sys.stdout.write(json.dumps(body, ensure_ascii=False) + "\n")
        return
    for name, paths in groups.items():
        out.print(f"[bold]{name}[/bold]: {len(paths)}")
        if name != "unchanged":
            for path in paths:
                out.print(f"  {escape(path)}", highlight=False)
    out.print(f"[bold]skipped[/bold]: {len(skipped)}")
    for item in plan.skipped:
        out.print(f"  {escape(item.path)}: {escape(item.reason)}", highlight=False)
    if refusal:
        err.print(f"[red]a run would refuse:[/red] {escape(refusal)}", highlight=False)


def print_reindex_report(report: ReindexReport) -> None:
    table = Table(title=f"knowledge base '{report.kb}' ({report.embedding_model})")
    table.add_column("status")
    table.add_column("file")
    table.add_column("chunks", justify="right")
    table.add_column("reason")
    for f in report.indexed:
        table.add_row("[green]indexed[/green]", escape(Path(f.path).name), str(f.chunks), "")
    for f in report.failed:
        table.add_row("[yellow]failed[/yellow]", escape(Path(f.path).name), "", escape(f.reason or ""))
    for r in report.plan.failing:
        table.add_row("[yellow]failed (unchanged)[/yellow]", escape(Path(r.path).name), "", escape(r.error or ""))
    for r in report.plan.deleted:
        table.add_row("[red]deleted[/red]", escape(Path(r.path).name), "", "")
    for s in report.plan.skipped:
        table.add_row("[dim]skipped[/dim]", escape(s.path), "", escape(s.reason))
    out.print(table)
    for line in report.repaired:
        err.print(f"[yellow]repaired after an interrupted job:[/yellow] {escape(line)}")
    failed = len(report.failed) + len(report.plan.failing)
    out.print(
        f"indexed {len(report.indexed)} file(s), failed {failed}, deleted {report.deleted}, "
        f"unchanged {len(report.plan.unchanged)}, skipped {len(report.plan.skipped)}; "
        f"{report.chunks_written} chunks written "
        f"({report.cache_hits} embeddings from cache) in {human_duration(report.seconds)} "
        f"({report.chunks_written / report.seconds if report.seconds else 0:.1f} chunks/s)"
    )
