"""Terminal rendering for the CLI: progress, summaries, streamed answers."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.panel import Panel
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from ingest.embedders.factory import EmbedderChoice
from ingest.pipeline import FileOutcome, IngestReport, ProgressListener
from rag.types import AskResponse, Source

out = Console()
err = Console(stderr=True)


def warn_fallback(choice: EmbedderChoice) -> None:
    if choice.is_fallback:
        err.print(
            Panel(
                f"[bold]{choice.requested}[/bold] could not be loaded:\n{choice.fallback_reason}\n\n"
                f"Using the bundled offline model [bold]{choice.embedder.model_id}[/bold] instead. "
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
            self.progress.console.print(f"[yellow]skipped[/yellow] {outcome.path}: {outcome.reason}", highlight=False)

    def chunks_embedded(self, count: int) -> None:
        self.chunks += count
        elapsed = self.progress.tasks[self.files].elapsed or 0.0
        rate = self.chunks / elapsed if elapsed > 0 else 0.0
        self.progress.update(self.files, detail=f"{self.chunks} chunks, {rate:.1f} chunks/s")


def print_report(report: IngestReport) -> None:
    table = Table(title=f"knowledge base '{report.kb}' ({report.embedding_model})", show_lines=False)
    table.add_column("status")
    table.add_column("file")
    table.add_column("chunks", justify="right")
    table.add_column("reason")
    for f in report.files:
        style = "green" if f.status == "indexed" else "yellow"
        table.add_row(f"[{style}]{f.status}[/{style}]", Path(f.path).name, str(f.chunks or ""), f.reason or "")
    out.print(table)
    out.print(
        f"indexed {len(report.indexed)} file(s), skipped {len(report.skipped)}, "
        f"{report.chunks} chunks in {report.seconds:.1f} s ({report.chunks_per_second:.1f} chunks/s)"
    )


def source_line(source: Source) -> str:
    where = source.uri
    if source.pages:
        where += f" p.{source.pages[0]}" if len(source.pages) == 1 else f" p.{source.pages[0]}-{source.pages[-1]}"
    score = f" score={source.score:.3f}" if source.score is not None else ""
    return f"[{source.id}] {source.title} — {where}{score}"


def print_sources(sources: list[Source], with_snippets: bool) -> None:
    if not sources:
        out.print("[yellow]no matching passages[/yellow]")
    for source in sources:
        out.print(source_line(source), highlight=False)
        if with_snippets:
            snippet = " ".join(source.snippet.split())
            out.print(f"    {snippet[:300]}{'…' if len(snippet) > 300 else ''}", style="dim", highlight=False)


def print_footer(response: AskResponse) -> None:
    if response.citations:
        out.print("\n[bold]cited:[/bold] " + ", ".join(f"[{c.source_id}] {c.title}" for c in response.citations))
    for warning in response.warnings:
        err.print(f"[yellow]warning:[/yellow] {warning}")
    t = response.timings
    ttft = f", first token {t.llm_ttft_ms:.0f} ms" if t.llm_ttft_ms is not None else ""
    out.print(f"[dim]retrieval {t.retrieval_ms:.0f} ms{ttft}, total {t.total_ms:.0f} ms[/dim]")
