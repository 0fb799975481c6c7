"""The ``rag`` command: ingest files, ask questions, serve the API, run the demo."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
from contextlib import ExitStack
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal

import typer
from rich.markup import escape

from ingest.chunk_sources import JobEngine
from ingest.discovery import check_roots
from ingest.errors import IngestError, InvalidKnowledgeBaseName, JobLocked, MassDeleteRefused, RootUnavailable
from ingest.kb_jobs import kb_lock
from ingest.stores.factory import is_server_uri
from rag.cli import output as ui
from rag.cli.keys import app as keys_app
from rag.cli.migrate import register_migrate
from rag.components import Components, Indexing, build_components, build_indexing
from rag.errors import RagError
from rag.eval.cli import eval_app
from rag.events import AnswerEvent, DoneEvent, ReasoningEvent, SourcesEvent, WarningEvent
from rag.settings import RagSettings, get_settings
from rag.types import AskRequest

app = typer.Typer(
    help="Ask your documents: ingest files into a knowledge base and get cited answers.", no_args_is_help=True
)
kb_app = typer.Typer(help="Manage knowledge bases.", no_args_is_help=True)
app.add_typer(kb_app, name="kb")
register_migrate(kb_app)
app.add_typer(keys_app, name="keys")
app.add_typer(eval_app, name="eval")


class Engine(StrEnum):
    """What runs a job's parsing and embedding."""

    local = "local"
    ray = "ray"


EXIT_PARTIAL = 2  # some files were skipped; the rest were indexed
EXIT_FAILED = 1  # the job could not run
EXIT_LOCKED = 75  # EX_TEMPFAIL: another job holds the knowledge base; try later
REFUSALS = (RootUnavailable, MassDeleteRefused, InvalidKnowledgeBaseName)  # refused before any change

DEMO_QUESTION = "How long is the standard warranty on Northwind robots?"
KbOption = Annotated[str, typer.Option("--kb", help="knowledge base name (letters, digits, '_' or '-')")]


def _components(settings: RagSettings) -> Components:
    components = build_components(settings)
    ui.warn_fallback(components.embedder_choice)
    return components


def _indexing(settings: RagSettings) -> Indexing:
    """What a job needs: the chat model, web client and reranker are never built for one."""
    indexing = build_indexing(settings)
    ui.warn_fallback(indexing.embedder_choice)
    return indexing


def _fail(exc: Exception) -> None:
    ui.err.print(f"[red]error:[/red] {escape(str(exc))}")
    raise typer.Exit(EXIT_FAILED)


@app.callback()
def main(verbose: Annotated[bool, typer.Option("--verbose", "-v", help="log more")] = False) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("rag.progress").setLevel(logging.INFO)  # normal progress, shown without --verbose
    logging.getLogger("ingest.embedders.onnx_export").setLevel(logging.INFO)  # a first start's one-off export


def _engine(
    stack: ExitStack, settings: RagSettings, engine: str, store_on_driver: bool
) -> tuple[Indexing, JobEngine | None]:
    """The job's indexing parts; for ``ray``, joined to the cluster until ``stack`` closes."""
    if engine == "local":
        return _indexing(settings), None
    from ingest.ray_engine import ray_job_parts

    parts = stack.enter_context(ray_job_parts(settings, store_on_driver=store_on_driver))
    ui.warn_fallback(parts.choice)
    return build_indexing(settings, embedder_choice=parts.choice), parts.engine


def _job_failed(kb: str, exc: Exception, code: int, as_json: bool) -> None:
    """Say why a job did not run (or stopped): a line on stderr and, with ``--json``, a summary."""
    ui.err.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False, soft_wrap=True)
    if as_json:
        status = {EXIT_LOCKED: "locked"}.get(code, "refused" if isinstance(exc, REFUSALS) else "failed")
        summary = {"kb": kb, "ok": False, "status": status, "error": str(exc), "exit_code": code}
        sys.stdout.write(json.dumps(summary, ensure_ascii=False) + "\n")
    raise typer.Exit(code)


def _run_job(
    paths: list[str],
    kb: str,
    *,
    delete_missing: bool,
    verify: bool = False,
    dry_run: bool = False,
    as_json: bool = False,
    workers: int | None = None,
    job: str = "reindex",
    full: bool = False,
    allow_mass_delete: bool = False,
    engine: str = "local",
    ray_address: str | None = None,
    store_on_driver: bool = False,
) -> None:
    if engine == "local" and (ray_address or store_on_driver):
        _fail(ValueError("--ray-address and --store-on-driver go with --engine ray"))
    settings = get_settings()
    if ray_address:
        settings = settings.model_copy(update={"ray": settings.ray.model_copy(update={"address": ray_address})})
    try:
        check_roots(paths)  # a folder that is gone is told before anything loads
        # and so is a busy knowledge base; a cluster is joined only once the lock is held
        with kb_lock(settings.data_dir, kb, job), ExitStack() as stack:
            indexing, job_engine = _engine(stack, settings, engine, store_on_driver)
            with indexing.jobs.open_locked(kb, workers=workers, full=full, engine=job_engine) as reindex:
                if dry_run:
                    plan = reindex.plan(paths, verify=verify, delete_missing=delete_missing)
                    try:
                        reindex.check_deletions(plan, allow_mass_delete=allow_mass_delete)
                        refusal = None
                    except MassDeleteRefused as exc:
                        refusal = str(exc)
                    ui.print_plan(plan, as_json, refusal=refusal)
                    return
                with ui.progress_for(ui.err) as progress:
                    report = reindex.run(
                        paths,
                        verify=verify,
                        delete_missing=delete_missing,
                        allow_mass_delete=allow_mass_delete,
                        progress=progress,
                    )
    except JobLocked as exc:
        _job_failed(kb, exc, EXIT_LOCKED, as_json)
        return
    except (IngestError, RagError) as exc:
        _job_failed(kb, exc, EXIT_FAILED, as_json)
        return
    if as_json:
        sys.stdout.write(json.dumps(report.summary(), ensure_ascii=False) + "\n")
    else:
        ui.print_reindex_report(report)
    if not report.ok:
        raise typer.Exit(EXIT_PARTIAL)


WorkersOption = Annotated[
    int | None,
    typer.Option("--workers", help="local engine: parser processes (default: cores - 1; 0 parses in-process)"),
]
JsonOption = Annotated[bool, typer.Option("--json", help="print a machine-readable summary")]
EngineOption = Annotated[
    Engine,
    typer.Option(
        "--engine",
        help="local: parser processes and the model on this machine; ray: parsing tasks and "
        "embedding actors on a Ray cluster (the 'ray' extra)",
    ),
]
RayAddressOption = Annotated[
    str | None,
    typer.Option(
        "--ray-address",
        help="with --engine ray: the cluster to join ('auto', 'ray://host:10001'); "
        "default RAG_RAY__ADDRESS, else a local instance sized to this machine",
    ),
]
StoreOnDriverOption = Annotated[
    bool,
    typer.Option(
        "--store-on-driver",
        help="with --engine ray on a cluster of other machines: write the embedded store of this machine anyway",
    ),
]


@app.command()
def ingest(
    paths: Annotated[
        list[str], typer.Argument(help="files or folders to index (folders recursively), or s3://bucket/prefix")
    ],
    kb: KbOption = "default",
    as_json: JsonOption = False,
    workers: WorkersOption = None,
    engine: EngineOption = Engine.local,
    ray_address: RayAddressOption = None,
    store_on_driver: StoreOnDriverOption = False,
) -> None:
    """Add or update files in a knowledge base (unchanged files are skipped; nothing is deleted).

    Exit codes: 0 all indexed; 2 some files failed (listed with reasons), the rest indexed;
    1 the job could not run; 75 another job holds the knowledge base.
    """
    _run_job(
        paths,
        kb,
        delete_missing=False,
        as_json=as_json,
        workers=workers,
        job="ingest",
        engine=engine.value,
        ray_address=ray_address,
        store_on_driver=store_on_driver,
    )


@app.command()
def reindex(
    paths: Annotated[
        list[str], typer.Argument(help="folders (or files, or s3://bucket/prefix) the knowledge base mirrors")
    ],
    kb: KbOption = "default",
    dry_run: Annotated[bool, typer.Option("--dry-run", help="print the plan, change nothing")] = False,
    verify: Annotated[
        bool, typer.Option("--verify", help="hash every file, not only those whose size/mtime changed")
    ] = False,
    full: Annotated[
        bool, typer.Option("--full", help="rebuild from scratch into a copy and switch over only when complete")
    ] = False,
    allow_mass_delete: Annotated[
        bool,
        typer.Option(
            "--allow-mass-delete",
            help="delete even when a folder is empty or more than RAG_INGEST__MAX_DELETE_SHARE of the files are gone",
        ),
    ] = False,
    as_json: JsonOption = False,
    workers: WorkersOption = None,
    engine: EngineOption = Engine.local,
    ray_address: RayAddressOption = None,
    store_on_driver: StoreOnDriverOption = False,
) -> None:
    """Bring a knowledge base in line with folders: index new and changed files, remove deleted ones.

    Incremental and crash-safe: an interrupted job is repaired by the next run. A folder that
    does not exist, or an empty one the knowledge base has files from, is an error that deletes
    nothing, and so is a job that would delete more than RAG_INGEST__MAX_DELETE_SHARE of the
    knowledge base (unless --allow-mass-delete). Exit codes as for ``ingest``.
    """
    _run_job(
        paths,
        kb,
        delete_missing=True,
        verify=verify,
        dry_run=dry_run,
        as_json=as_json,
        workers=workers,
        full=full,
        allow_mass_delete=allow_mass_delete,
        engine=engine.value,
        ray_address=ray_address,
        store_on_driver=store_on_driver,
    )


async def _ask(components: Components, request: AskRequest, show_reasoning: bool, as_json: bool) -> None:
    in_reasoning = False
    async for event in components.orchestrator.stream(request):
        if as_json:
            if isinstance(event, DoneEvent):
                sys.stdout.write(event.response.model_dump_json(indent=2) + "\n")
            continue
        if isinstance(event, SourcesEvent):
            ui.out.print("[bold]sources[/bold]")
            ui.print_sources(event.sources, with_snippets=components.chat is None)
            ui.out.print()
        elif isinstance(event, ReasoningEvent) and show_reasoning:
            if not in_reasoning:
                ui.out.print("[dim italic]thinking…[/dim italic]")
                in_reasoning = True
            ui.out.print(event.text, end="", style="dim", highlight=False, markup=False)
        elif isinstance(event, AnswerEvent):
            if in_reasoning:
                ui.out.print("\n")
                in_reasoning = False
            ui.out.print(event.text, end="", highlight=False, markup=False)
        elif isinstance(event, WarningEvent):
            ui.err.print(f"[yellow]warning:[/yellow] {escape(event.message)}")
        elif isinstance(event, DoneEvent):
            response = event.response
            if response.mode == "retrieval_only":
                ui.out.print(f"[bold yellow]{escape(response.notice or '')}[/bold yellow]")
            else:
                ui.out.print()
            response.warnings = []  # already shown as they came
            ui.print_footer(response)


@app.command()
def ask(
    question: Annotated[str, typer.Argument(help="the question")],
    kb: KbOption = "default",
    top_k: Annotated[int | None, typer.Option("--top-k", help="passages to retrieve")] = None,
    web: Annotated[str, typer.Option("--web", help="web search: off, on or auto", show_default=True)] = "off",
    reasoning: Annotated[bool, typer.Option("--reasoning/--no-reasoning", help="show the model's reasoning")] = True,
    as_json: Annotated[bool, typer.Option("--json", help="print the full response as JSON")] = False,
) -> None:
    """Ask a question and stream the cited answer."""
    web_mode: bool | Literal["auto"] = {"off": False, "on": True, "true": True, "auto": "auto"}.get(web, None)  # type: ignore[assignment]
    if web_mode is None:
        _fail(ValueError(f"--web must be off, on or auto, not {web!r}"))
    settings = get_settings()
    try:
        components = _components(settings)
        request = AskRequest(question=question, kb=kb, top_k=top_k, web=web_mode, include_reasoning=reasoning)
        asyncio.run(_ask(components, request, reasoning, as_json))
    except (IngestError, RagError) as exc:
        _fail(exc)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="bind address (default from RAG_API__HOST)")] = None,
    port: Annotated[int | None, typer.Option(help="port (default from RAG_API__PORT)")] = None,
    workers: Annotated[
        int | None,
        typer.Option(min=1, max=64, help="server processes sharing the port (default from RAG_API__WORKERS, 1)"),
    ] = None,
) -> None:
    """Start the REST API (OpenAPI docs at /docs)."""
    import uvicorn

    from ingest.embedders.cpu_threads import set_torch_threads
    from rag.api.app import create_app
    from rag.logging_setup import configure_logging

    settings = get_settings()
    configure_logging(settings.log.level, json_lines=settings.log.json_lines)
    processes = workers or settings.api.workers
    refusal = workers_refusal(settings, processes)
    if refusal:
        _fail(ValueError(refusal))
    bind, at = host or settings.api.host, port or settings.api.port
    shown = "127.0.0.1" if bind in ("0.0.0.0", "::", "") else bind
    shown = f"[{shown}]" if ":" in shown else shown
    # through the log, so stderr stays one JSON object a line when logs are JSON
    logging.getLogger("rag.serve").info(
        "workspace at http://%s:%s/ (API docs at /docs)%s",
        shown,
        at,
        f", {processes} worker processes" if processes > 1 else "",
    )
    common: dict[str, Any] = {
        "host": bind,
        "port": at,
        "log_config": None,
        "log_level": settings.log.level.lower(),
        "access_log": False,  # one access line per request: ours, with the request id, route template and key name
    }
    if processes == 1:
        set_torch_threads(settings.embedding.threads or 1)
        uvicorn.run(create_app(settings), **common)
    else:
        share_metrics(settings, at)
        serve_workers(uvicorn.Config("rag.api.app:create_worker_app", factory=True, workers=processes, **common))


def serve_workers(config: Any) -> None:
    """uvicorn's supervisor over ``config.workers`` processes, each building its app from the same
    environment and, on Linux, listening on a socket of its own (``rag.api.worker_sockets``)."""
    import socket

    from uvicorn.supervisors import Multiprocess

    from rag.api.worker_sockets import PortReservation, reuse_port_supported

    sockets: list[socket.socket]
    try:
        if reuse_port_supported():
            sockets = [PortReservation(config.host, config.port, config.backlog)]
        else:
            sockets = [config.bind_socket()]
    except OSError as exc:
        _fail(OSError(f"cannot listen on {config.host}:{config.port}: {exc.strerror or exc}"))
        return
    Multiprocess(config, sockets=sockets).run()


def share_metrics(settings: RagSettings, port: int) -> None:
    """Give the workers one folder for their metrics (``rag.metrics``), emptied first: values left
    by an earlier run would be counted again. A folder set by the operator is used as it is."""
    import shutil

    from rag.metrics import MULTIPROCESS_DIR_ENV

    if os.environ.get(MULTIPROCESS_DIR_ENV):
        return
    folder = settings.data_dir / "run" / f"metrics-{port}"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    os.environ[MULTIPROCESS_DIR_ENV] = str(folder)


def workers_refusal(settings: RagSettings, workers: int) -> str | None:
    """Why ``workers`` server processes cannot share this store, or None."""
    if workers > 1 and settings.store.backend == "milvus" and not is_server_uri(settings.store_uri()):
        return (
            f"--workers {workers}: Milvus Lite ({settings.store_uri()}) is opened by one process only; "
            "serve with one worker, or use a Milvus server (RAG_STORE__URI=http://host:19530)"
        )
    return None


@kb_app.command("list")
def kb_list() -> None:
    """List knowledge bases with their embedding model and chunk count."""
    from ingest.embedders.factory import EmbedderChoice  # noqa: F401 - keeps import cost off other commands

    settings = get_settings()
    from rag.components import make_store

    try:
        kbs = make_store(settings).list_kbs()
    except IngestError as exc:
        _fail(exc)
        return
    for info in kbs:
        ui.out.print(f"{info.name}\t{info.embedding_model} ({info.dimension}-d)\t{info.count} chunks", highlight=False)


@app.command()
def demo(
    data: Annotated[Path, typer.Option(help="folder to index")] = Path("data"),
    kb: KbOption = "sample",
    question: Annotated[str, typer.Option(help="question to ask")] = DEMO_QUESTION,
) -> None:
    """Index the sample knowledge base and answer one question (works offline)."""
    settings = get_settings()
    try:
        components = _components(settings)
        with components.jobs.open(kb, job="demo") as job, ui.progress_for(ui.err) as progress:
            report = job.run([data], delete_missing=True, progress=progress)
        ui.print_reindex_report(report)
        ui.out.print(f"\n[bold]question:[/bold] {escape(question)}\n")
        asyncio.run(_ask(components, AskRequest(question=question, kb=kb), True, False))
    except (IngestError, RagError) as exc:
        _fail(exc)
