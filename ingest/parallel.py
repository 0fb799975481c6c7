"""Parsing files in worker processes while the main process embeds, with a bounded queue."""

from __future__ import annotations

import multiprocessing
import os
import threading
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from multiprocessing.context import BaseContext
from pathlib import Path

from ingest.errors import ParseError
from ingest.failpoints import failpoint
from ingest.limits import FileLimits
from ingest.loaders import load_file
from ingest.types import ParsedDocument


@dataclass(frozen=True, slots=True)
class Parsed:
    """A file's parse result: a document, or the reason it could not be read."""

    path: str
    document: ParsedDocument | None
    error: str | None = None


def parse_one(path: str, kb: str, limits: FileLimits | None = None) -> Parsed:
    """Runs in a worker; returns plain data (exceptions with custom fields do not pickle reliably)."""
    failpoint(f"parse {Path(path).name}")  # crash tests: a parser that kills its process on one file
    try:
        return Parsed(path, load_file(path, kb, limits))
    except ParseError as exc:
        return Parsed(path, None, exc.reason)
    except Exception as exc:  # a parser bug must not kill the batch
        return Parsed(path, None, f"parser failed: {type(exc).__name__}: {exc}")


def exit_with_parent() -> None:
    """Worker initializer: end this worker as soon as the process that started it is gone.

    An idle worker waits on its task queue, which never reports the parent's death (the worker
    holds both ends of it), so after ``kill -9`` of a job its workers, and the resource tracker
    that waits for them, would live on. ``multiprocessing.parent_process()`` has a sentinel that
    becomes ready when the parent exits, however it exits; a thread waits on it.
    """
    parent = multiprocessing.parent_process()
    if parent is None:
        return

    def watch() -> None:
        parent.join()
        os._exit(70)  # EX_SOFTWARE; nobody is left to read it

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def default_workers() -> int:
    return max(1, (os.cpu_count() or 2) - 1)


def parse_files(
    paths: Iterable[str | Path], kb: str, workers: int | None = None, limits: FileLimits | None = None
) -> Iterator[Parsed]:
    """Parse files in input order; ``workers=0`` parses in this process.

    At most ``2 * workers`` files are in flight, so memory stays flat however many files there are,
    and the consumer (embedding) overlaps with parsing in the pool. A parser that kills its
    process (a crash in native code, the kernel's OOM killer) breaks the pool: the files that were
    in flight are then parsed again one per process, so only the file that kills its process is
    reported, and the rest go on in a new pool.
    """
    names = [str(p) for p in paths]
    workers = default_workers() if workers is None else workers
    if workers <= 0 or len(names) <= 2:
        for path in names:
            yield parse_one(path, kb, limits)
        return
    # spawn: forking a process that already runs torch threads can deadlock.
    context = multiprocessing.get_context("spawn")

    def new_pool() -> ProcessPoolExecutor:
        return ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=exit_with_parent)

    queue = iter(names)
    pending: deque[tuple[str, Future[Parsed]]] = deque()
    pool = new_pool()
    try:
        while True:
            while len(pending) < 2 * workers and (following := next(queue, None)) is not None:
                pending.append((following, pool.submit(parse_one, following, kb, limits)))
            if not pending:
                return
            path, future = pending.popleft()
            try:
                result = future.result()
            except BrokenProcessPool:
                pool.shutdown(wait=True, cancel_futures=True)
                in_flight = [path] + [other for other, _ in pending]
                pending.clear()
                for each in in_flight:
                    yield _parse_alone(each, kb, limits, context)
                pool = new_pool()
                continue
            yield result
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _parse_alone(path: str, kb: str, limits: FileLimits | None, context: BaseContext) -> Parsed:
    """``parse_one`` in a process of its own, so a file that kills its process is told apart."""
    with ProcessPoolExecutor(max_workers=1, mp_context=context, initializer=exit_with_parent) as alone:
        try:
            return alone.submit(parse_one, path, kb, limits).result()
        except BrokenProcessPool:
            return Parsed(path, None, "the parser crashed its process on every try")
