"""``rag kb migrate``: copy a knowledge base between vector-store backends without re-embedding.

    rag kb migrate --kb handbook --from chroma --to milvus [--to-uri http://milvus:19530] [--replace]

Each side defaults to the configured location when it names the configured backend
(``store.backend``/``store.uri``), else to that backend's default under ``data_dir``
(``chroma/`` or ``milvus.db``). A Milvus token comes from ``RAG_MIGRATE_FROM_TOKEN`` /
``RAG_MIGRATE_TO_TOKEN`` (or the configured ``store.token`` for the configured side), never
from the command line history. The job holds the knowledge base's lock, like ``ingest`` and
``reindex``, so nothing writes to the source while it is copied. Manifests and the lexical index
live under ``data_dir`` and are not per backend, so they need no copy; switch
``store.backend``/``store.uri`` afterwards to serve from the target. With
``retrieval.lexical_backend = "store"``, a Milvus target that can run BM25 is created with it and
then ranks the lexical side itself.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Literal

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from ingest.errors import IngestError, JobLocked
from ingest.locking import KbLock
from ingest.rebuild import KbFiles
from ingest.stores.base import HnswParams, VectorStore
from ingest.stores.factory import build_store
from ingest.stores.migrate import migrate_kb
from ingest.stores.naming import validate_kb_name
from rag.cli import output as ui
from rag.settings import RagSettings, get_settings

Backend = Literal["chroma", "milvus"]
EXIT_FAILED = 1
_LOCATION_HELP = (
    "path or http(s)://host:port; default: store.uri for the configured backend, else <data_dir>/chroma or "
    "<data_dir>/milvus.db"
)
EXIT_LOCKED = 75


def default_location(settings: RagSettings, backend: str) -> str:
    """The configured location for the configured backend, else the backend's default under ``data_dir``."""
    if backend == settings.store.backend:
        return settings.store_uri()
    return str(settings.data_dir / ("milvus.db" if backend == "milvus" else "chroma"))


def open_store(settings: RagSettings, backend: str, location: str | None, token: str | None) -> VectorStore:
    """An unopened store; HNSW parameters come from the settings (they apply to a created target)."""
    location = location or default_location(settings, backend)
    if token is None and backend == settings.store.backend and location == settings.store_uri():
        token = settings.store.token.get_secret_value() if settings.store.token else None
    hnsw = settings.store.hnsw
    return build_store(
        backend,
        path_or_uri=location,
        token=token if backend == "milvus" else None,
        hnsw=HnswParams(m=hnsw.m, ef_construction=hnsw.ef_construction, ef_search=hnsw.ef_search),
        full_text=settings.retrieval.lexical_backend == "store",  # a created target gets the store's BM25
    )


def _fail(message: str, code: int = EXIT_FAILED) -> None:
    ui.err.print(f"[red]error:[/red] {escape(message)}", highlight=False)
    raise typer.Exit(code)


def register_migrate(kb_app: typer.Typer) -> None:
    """Add the ``migrate`` command to the ``rag kb`` group."""

    @kb_app.command("migrate")
    def migrate(
        kb: Annotated[str, typer.Option("--kb", help="knowledge base to copy")],
        from_backend: Annotated[Backend, typer.Option("--from", help="source backend")],
        to_backend: Annotated[Backend, typer.Option("--to", help="target backend")],
        from_uri: Annotated[str | None, typer.Option("--from-uri", help=_LOCATION_HELP)] = None,
        to_uri: Annotated[str | None, typer.Option("--to-uri", help=_LOCATION_HELP)] = None,
        to_kb: Annotated[str | None, typer.Option("--to-kb", help="name in the target (default: the same)")] = None,
        replace: Annotated[bool, typer.Option("--replace", help="overwrite the knowledge base in the target")] = False,
        batch_size: Annotated[int, typer.Option("--batch-size", min=1, max=10_000, help="chunks per write")] = 512,
        from_token: Annotated[
            str | None, typer.Option(envvar="RAG_MIGRATE_FROM_TOKEN", hidden=True, show_envvar=False)
        ] = None,
        to_token: Annotated[
            str | None, typer.Option(envvar="RAG_MIGRATE_TO_TOKEN", hidden=True, show_envvar=False)
        ] = None,
    ) -> None:
        """Copy a knowledge base to another backend with its vectors (no re-embedding).

        Refuses when the target already has it, unless --replace; the copy is swapped in only
        when complete. Milvus tokens come from RAG_MIGRATE_FROM_TOKEN / RAG_MIGRATE_TO_TOKEN (or
        store.token for the configured store). Exit codes: 0 copied; 1 failed (target unchanged);
        75 another job holds the knowledge base.
        """
        settings = get_settings()
        try:
            validate_kb_name(kb)
            target_name = validate_kb_name(to_kb or kb)
            source = open_store(settings, from_backend, from_uri, from_token)
            target = open_store(settings, to_backend, to_uri, to_token)
        except ValueError as exc:  # a bad name or a location the backend cannot use
            _fail(str(exc))
            return
        src_desc, dst_desc = _describe(source), _describe(target)
        if src_desc == dst_desc and kb == target_name:
            _fail(f"source and target are the same ({src_desc}); name another --to-uri or --to-kb")
        ui.err.print(f"copying {kb!r} from {src_desc} to {target_name!r} in {dst_desc}", highlight=False)
        try:
            with KbLock(KbFiles(settings.data_dir, kb).lock, kb, job="migrate"), _progress() as progress:
                report = migrate_kb(
                    source, target, kb, target_kb=target_name, replace=replace, batch_size=batch_size, progress=progress
                )
        except JobLocked as exc:
            _fail(str(exc), EXIT_LOCKED)
            return
        except IngestError as exc:
            _fail(str(exc))
            return
        ui.out.print(
            f"copied {report.copied} chunks of {report.kb!r} to {report.target_kb!r} in {dst_desc} "
            f"({report.embedding_model}, {report.dimension}-d) in {report.seconds:.1f}s"
            + ("; the previous copy was replaced" if report.replaced else ""),
            highlight=False,
        )


@contextmanager
def _progress() -> Iterator[Callable[[int, int], None]]:
    """A bar of chunks copied on standard error (plain lines when it is not a terminal)."""
    bar = Progress(TextColumn("[bold]chunks"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=ui.err)
    task = bar.add_task("copy", total=None)
    with bar:

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)
            if not ui.err.is_terminal:
                ui.err.print(f"copied {done}/{total} chunks", highlight=False)

        yield update


def _describe(store: VectorStore) -> str:
    describe = getattr(store, "describe", None)
    return str(describe()) if callable(describe) else type(store).__name__
