"""``rag eval retrieval``: nDCG@10, Recall@10/100, MRR@10 and latency per retrieval mode."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from ingest.embedders.base import Embedder
from ingest.lexical.tokenize import ChineseMode
from ingest.pipeline import FileOutcome, ProgressListener
from rag.eval.beir import load_beir
from rag.eval.runner import METRICS, EvalReport, IndexConfig, RunConfig, build_index, evaluate_modes, work_directory
from rag.fusion import FusionMethod
from rag.rerank import RerankSettings, build_reranker

eval_app = typer.Typer(help="Measure retrieval quality on BEIR-format datasets.", no_args_is_help=True)
console = Console(stderr=True)


@eval_app.callback()
def _group() -> None:
    """Keeps ``retrieval`` a subcommand, so more evaluations can join it."""


def make_embedder(spec: str, model: str, *, batch_size: int, max_tokens: int) -> Embedder:
    """``bundled`` (the offline MiniLM), an ``http(s)://`` OpenAI-compatible base URL, or a
    sentence-transformers model name or path."""
    if spec == "bundled":
        from ingest.embedders.factory import bundled_embedder

        return bundled_embedder(batch_size=batch_size)
    if spec.startswith(("http://", "https://")):
        from ingest.embedders.openai_compat import OpenAIEmbedder

        key = os.environ.get("RAG_EVAL_EMBEDDING_API_KEY")
        return OpenAIEmbedder(spec, model, api_key=key, batch_size=batch_size, max_input_tokens=max_tokens)
    from ingest.embedders.sentence_transformers import SentenceTransformerEmbedder

    return SentenceTransformerEmbedder(spec, batch_size=batch_size)


class _Bar(ProgressListener):
    def __init__(self, progress: Progress, total: int) -> None:
        self.progress = progress
        self.task = progress.add_task("ingest", total=total)

    def file_done(self, outcome: FileOutcome) -> None:  # noqa: ARG002 - every outcome counts the same
        self.progress.advance(self.task)


def results_table(report: EvalReport) -> Table:
    table = Table(title=f"{report.dataset}: {report.queries} queries, {report.documents} docs, {report.chunks} chunks")
    table.add_column("mode")
    for name in METRICS:
        table.add_column(name, justify="right")
    table.add_column("ms/query", justify="right")
    for result in report.results:
        table.add_row(result.mode, *(f"{result.metrics[m]:.4f}" for m in METRICS), f"{result.ms_per_query:.1f}")
    return table


@eval_app.command("retrieval")
def retrieval(
    dataset: Annotated[Path, typer.Option(help="BEIR folder: corpus.jsonl, queries.jsonl, qrels/<split>.tsv")],
    json_path: Annotated[Path | None, typer.Option("--json", help="also write the report as JSON here")] = None,
    split: str = "test",
    limit_queries: Annotated[int | None, typer.Option(help="evaluate the first N judged queries")] = None,
    corpus_sample: Annotated[
        int | None, typer.Option(help="index only the judged documents plus N others (seeded sample)")
    ] = None,
    seed: int = 13,
    corpus_limit: Annotated[int | None, typer.Option(help="index only the first N corpus rows")] = None,
    embedding: Annotated[str, typer.Option(help="'bundled', an OpenAI-compatible base URL, or a model")] = "bundled",
    embedding_model: Annotated[str, typer.Option(help="model name sent to an endpoint")] = "default",
    query_embedding: Annotated[
        str | None, typer.Option(help="another endpoint for queries (servers that fix query/passage mode)")
    ] = None,
    embedding_batch: int = 32,
    embedding_max_tokens: int = 512,
    chunk_tokens: int = 400,
    overlap_tokens: int = 60,
    chinese: Annotated[str, typer.Option(help="search | cut | bigram")] = "search",
    modes: Annotated[str, typer.Option(help="comma-separated: dense, lexical, hybrid")] = "dense,lexical,hybrid",
    fusion: Annotated[str, typer.Option(help="rrf | weighted")] = "rrf",
    rrf_k: int = 60,
    dense_weight: float = 1.0,
    lexical_weight: float = 1.0,
    depth: Annotated[int, typer.Option(help="documents ranked per query")] = 100,
    rerank: Annotated[str, typer.Option(help="none | cross-encoder | api")] = "none",
    rerank_model: str = "BAAI/bge-reranker-v2-m3",
    rerank_url: str | None = None,
    rerank_candidates: int = 30,
    work_dir: Annotated[
        Path | None, typer.Option(help="keep the index here and reuse it when corpus, model and chunking match")
    ] = None,
) -> None:
    """Index DATASET through the ingestion pipeline into a fresh knowledge base and score each mode."""
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("bm25s").setLevel(logging.WARNING)  # it logs every index build at DEBUG
    if chinese not in ("search", "cut", "bigram") or fusion not in ("rrf", "weighted"):
        raise typer.BadParameter("--chinese is search|cut|bigram and --fusion is rrf|weighted")
    mode_list = tuple(m.strip() for m in modes.split(",") if m.strip())
    if not mode_list or any(m not in ("dense", "lexical", "hybrid") for m in mode_list):
        raise typer.BadParameter(f"--modes takes dense, lexical, hybrid; got {modes!r}")
    data = load_beir(dataset, split).limit(limit_queries, corpus_sample, seed, corpus_limit)
    sizes = {"batch_size": embedding_batch, "max_tokens": embedding_max_tokens}
    doc_embedder = make_embedder(embedding, embedding_model, **sizes)
    query_embedder = make_embedder(query_embedding, embedding_model, **sizes) if query_embedding else doc_embedder
    reranker = build_reranker(
        RerankSettings.model_validate(
            {"provider": rerank, "model": rerank_model, "base_url": rerank_url, "candidates": rerank_candidates}
        )
    )
    chinese_mode: ChineseMode = chinese  # type: ignore[assignment]
    index_config = IndexConfig(chunk_tokens=chunk_tokens, overlap_tokens=overlap_tokens, chinese=chinese_mode)
    fusion_method: FusionMethod = fusion  # type: ignore[assignment]
    run_config = RunConfig(
        modes=mode_list,  # type: ignore[arg-type]
        fusion=fusion_method,
        rrf_k=rrf_k,
        dense_weight=dense_weight,
        lexical_weight=lexical_weight,
        depth=depth,
        rerank_candidates=rerank_candidates,
    )
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with work_directory(work_dir) as folder, Progress(*columns, console=console, transient=True) as progress:
        built = build_index(data, doc_embedder, folder, index_config, _Bar(progress, len(data.corpus)))
        plans = len(mode_list) + (reranker is not None)
        task = progress.add_task("queries", total=plans * len(data.queries))
        results = evaluate_modes(
            data, built, query_embedder, run_config, reranker, on_query=lambda _: progress.advance(task)
        )
    report = EvalReport(
        dataset=data.name,
        documents=len(data.corpus),
        chunks=built.chunks,
        queries=len(data.queries),
        embedding_model=doc_embedder.model_id,
        index_reused=built.reused,
        ingest_seconds=round(built.ingest_seconds, 1),
        lexical_commit_seconds=round(built.lexical_commit_seconds, 2),
        index={
            "chunk_tokens": chunk_tokens,
            "overlap_tokens": overlap_tokens,
            "chinese": chinese,
            "corpus_sample": corpus_sample,
            "corpus_limit": corpus_limit,
            "seed": seed if corpus_sample is not None else None,
        },
        run={
            "modes": list(mode_list),
            "fusion": fusion,
            "rrf_k": rrf_k,
            "dense_weight": dense_weight,
            "lexical_weight": lexical_weight,
            "depth": depth,
            "rerank": None if reranker is None else {"model": reranker.model_id, "candidates": rerank_candidates},
        },
        results=results,
    )
    Console().print(results_table(report))
    reuse = "reused" if built.reused else f"built in {built.ingest_seconds:.0f} s"
    console.print(f"index {reuse}; lexical commit {built.lexical_commit_seconds:.2f} s; model {report.embedding_model}")
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(report.to_json(), encoding="utf-8")


def main() -> None:  # pragma: no cover - ``python -m rag.eval.cli`` before the app is mounted
    eval_app()


if __name__ == "__main__":  # pragma: no cover
    main()
