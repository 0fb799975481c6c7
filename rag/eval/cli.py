"""``rag eval retrieval``: nDCG@10, Recall@10/100, MRR@10 and latency per retrieval mode."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from ingest.embedders.base import Embedder, EncoderBackend, encoder_id
from ingest.progress import FileOutcome, ProgressListener
from ingest.stores.base import HnswParams
from rag.eval.beir import load_beir
from rag.eval.runner import (
    METRICS,
    EvalReport,
    IndexConfig,
    RunConfig,
    build_index,
    evaluate_modes,
    work_directory,
)
from rag.settings import RagSettings, get_settings

eval_app = typer.Typer(help="Measure retrieval quality on BEIR-format datasets.", no_args_is_help=True)
console = Console(stderr=True)


@eval_app.callback()
def _group() -> None:
    """Keeps ``retrieval`` a subcommand, so more evaluations can join it."""


def make_embedder(
    spec: str,
    model: str,
    *,
    batch_size: int,
    max_tokens: int,
    backend: EncoderBackend = "torch",
    onnx_cache: Path | None = None,
) -> Embedder:
    """``bundled`` (the offline MiniLM), an ``http(s)://`` OpenAI-compatible base URL, or a
    sentence-transformers model name or path (run by ``backend``: torch, ONNX int8 or auto)."""
    if spec == "bundled":
        from ingest.embedders.factory import bundled_embedder

        return bundled_embedder(batch_size=batch_size, backend=backend, onnx_cache=onnx_cache)
    if spec.startswith(("http://", "https://")):
        from ingest.embedders.openai_compat import OpenAIEmbedder

        key = os.environ.get("RAG_EVAL_EMBEDDING_API_KEY")
        return OpenAIEmbedder(spec, model, api_key=key, batch_size=batch_size, max_input_tokens=max_tokens)
    from ingest.embedders.sentence_transformers import SentenceTransformerEmbedder

    return SentenceTransformerEmbedder(spec, batch_size=batch_size, backend=backend, onnx_cache=onnx_cache)


def with_overrides(
    settings: RagSettings,
    *,
    retrieval: dict[str, Any],
    rerank: dict[str, Any],
    chunking: dict[str, Any],
) -> RagSettings:
    """``settings`` with the options that were given (not None) in place of their settings, validated."""
    data = settings.model_dump()
    data["retrieval"].update({k: v for k, v in retrieval.items() if v is not None})
    data["retrieval"]["rerank"].update({k: v for k, v in rerank.items() if v is not None})
    data["chunking"].update({k: v for k, v in chunking.items() if v is not None})
    return RagSettings.model_validate(data)


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
    embedding_backend: Annotated[
        EncoderBackend | None, typer.Option(help="for a local model (default: RAG_EMBEDDING__BACKEND)")
    ] = None,
    chunk_tokens: Annotated[int | None, typer.Option(help="default: RAG_CHUNKING__CHUNK_TOKENS")] = None,
    overlap_tokens: Annotated[int | None, typer.Option(help="default: RAG_CHUNKING__OVERLAP_TOKENS")] = None,
    chinese: Annotated[str | None, typer.Option(help="search | cut | bigram (default: the setting)")] = None,
    modes: Annotated[str, typer.Option(help="comma-separated: dense, lexical, hybrid")] = "dense,lexical,hybrid",
    fusion: Annotated[str | None, typer.Option(help="rrf | weighted (default: the setting)")] = None,
    rrf_k: int | None = None,
    dense_weight: float | None = None,
    lexical_weight: float | None = None,
    foreign_dense_weight: Annotated[
        float | None, typer.Option(help="dense weight for Chinese questions with an English-only model")
    ] = None,
    depth: Annotated[int, typer.Option(help="documents ranked per query")] = 100,
    rerank: Annotated[str | None, typer.Option(help="none | cross-encoder | api (default: the setting)")] = None,
    rerank_model: str | None = None,
    rerank_url: str | None = None,
    rerank_candidates: int | None = None,
    work_dir: Annotated[
        Path | None, typer.Option(help="keep the index here and reuse it when corpus, model and chunking match")
    ] = None,
) -> None:
    """Index DATASET through the ingestion pipeline into a fresh knowledge base and score each mode.

    Retrieval runs as production runs it: the retriever is built by the API's factory from the
    RAG_* settings; an option given here overrides its setting for this run only.
    """
    logging.basicConfig(level=logging.WARNING)
    mode_list = tuple(m.strip() for m in modes.split(",") if m.strip())
    if not mode_list or any(m not in ("dense", "lexical", "hybrid") for m in mode_list):
        raise typer.BadParameter(f"--modes takes dense, lexical, hybrid; got {modes!r}")
    try:
        settings = with_overrides(
            get_settings(),
            retrieval={
                "fusion": fusion,
                "rrf_k": rrf_k,
                "dense_weight": dense_weight,
                "lexical_weight": lexical_weight,
                "foreign_dense_weight": foreign_dense_weight,
                "chinese_tokenizer": chinese,
            },
            rerank={"provider": rerank, "model": rerank_model, "base_url": rerank_url, "candidates": rerank_candidates},
            chunking={"chunk_tokens": chunk_tokens, "overlap_tokens": overlap_tokens},
        )
    except ValidationError as exc:
        raise typer.BadParameter(str(exc)) from exc
    retrieval = settings.retrieval
    data = load_beir(dataset, split).limit(limit_queries, corpus_sample, seed, corpus_limit)
    options: dict[str, Any] = {
        "batch_size": embedding_batch,
        "max_tokens": embedding_max_tokens,
        "backend": embedding_backend or settings.embedding.backend,
        "onnx_cache": settings.embedding.onnx_cache,
    }
    doc_embedder = make_embedder(embedding, embedding_model, **options)
    query_embedder = make_embedder(query_embedding, embedding_model, **options) if query_embedding else doc_embedder
    hnsw = settings.store.hnsw
    index_config = IndexConfig(
        chunk_tokens=settings.chunking.chunk_tokens,
        overlap_tokens=settings.chunking.overlap_tokens,
        chinese=retrieval.chinese_tokenizer,
        hnsw=HnswParams(m=hnsw.m, ef_construction=hnsw.ef_construction, ef_search=hnsw.ef_search),
    )
    run_config = RunConfig(modes=mode_list, depth=depth)  # type: ignore[arg-type]
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with work_directory(work_dir) as folder, Progress(*columns, console=console, transient=True) as progress:
        built = build_index(data, doc_embedder, folder, index_config, _Bar(progress, len(data.corpus)))
        plans = len(mode_list) + (retrieval.rerank.provider != "none")
        task = progress.add_task("queries", total=plans * len(data.queries))
        results = evaluate_modes(
            data, built, query_embedder, settings, run_config, on_query=lambda _: progress.advance(task)
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
            "chunk_tokens": index_config.chunk_tokens,
            "overlap_tokens": index_config.overlap_tokens,
            "chinese": index_config.chinese,
            "encoder": encoder_id(doc_embedder),
            "corpus_sample": corpus_sample,
            "corpus_limit": corpus_limit,
            "seed": seed if corpus_sample is not None else None,
        },
        run={
            "modes": list(mode_list),
            "depth": depth,
            "retrieval": retrieval.model_dump(mode="json", exclude={"rerank": {"api_key"}}),
        },
        results=results,
    )
    Console().print(results_table(report))
    reuse = "reused" if built.reused else f"built in {built.ingest_seconds:.0f} s"
    commit_s = built.lexical_commit_seconds
    console.print(f"index {reuse}; lexical commit {commit_s:.2f} s; encoder {encoder_id(doc_embedder)}")
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(report.to_json(), encoding="utf-8")


def main() -> None:  # pragma: no cover - ``python -m rag.eval.cli`` before the app is mounted
    eval_app()


if __name__ == "__main__":  # pragma: no cover
    main()
