"""Parsing and chunking as Ray tasks: a task per run of files (up to ``FILES_PER_TASK`` or
``BYTES_PER_TASK``, so Ray's per-task cost, a few milliseconds, is not paid per small file), a
bounded number of tasks in flight, results handed to the job in input order (so windows, batches
and vectors are those of the local engine)."""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from ingest.chunk_sources import ChunkedFile, chunk_parsed
from ingest.chunking import Chunker, ChunkingConfig
from ingest.errors import EngineUnavailable
from ingest.limits import FileLimits
from ingest.parallel import parse_one
from ingest.ray_engine.tokens import TokenCounter

FILES_PER_TASK = 32
BYTES_PER_TASK = 4 << 20  # a large file is a task of its own, so a slow PDF holds up no others


def parse_and_chunk(
    paths: list[str], kb: str, limits: FileLimits, config: ChunkingConfig, max_tokens: int, counter: TokenCounter
) -> list[ChunkedFile]:
    """Runs on a worker: each file read where it lies (a shared filesystem), parsed, chunked."""
    chunker = Chunker(counter, config, max_tokens=max_tokens)
    return [chunk_parsed(parse_one(path, kb, limits), chunker, kb, limits) for path in paths]


def task_batches(paths: Iterable[str]) -> Iterator[list[str]]:
    """Consecutive paths grouped up to ``FILES_PER_TASK`` files or ``BYTES_PER_TASK`` bytes."""
    batch: list[str] = []
    size = 0
    for path in paths:
        try:
            size += os.path.getsize(path)
        except OSError:
            pass  # gone since the plan: its task reports it
        batch.append(path)
        if len(batch) >= FILES_PER_TASK or size >= BYTES_PER_TASK:
            yield batch
            batch, size = [], 0
    if batch:
        yield batch


@dataclass(slots=True)
class RayChunkSource:
    """``ChunkSource`` on a cluster: ``in_flight`` tasks at most, so the driver's memory stays flat."""

    counter: TokenCounter
    in_flight: int
    max_retries: int = 3
    _counter_ref: Any = None

    def chunk_files(self, paths: list[str], kb: str, chunker: Chunker, limits: FileLimits) -> Iterator[ChunkedFile]:
        import ray

        if self._counter_ref is None:
            self._counter_ref = ray.put(self.counter)  # sent to the object store once, not per task
        task = ray.remote(parse_and_chunk).options(num_cpus=1, max_retries=self.max_retries)
        pending: deque[tuple[list[str], Any]] = deque()
        queue = task_batches(paths)

        def submit(batch: list[str]) -> Any:
            return task.remote(batch, kb, limits, chunker.config, chunker.max_tokens, self._counter_ref)

        for batch in queue:
            pending.append((batch, submit(batch)))
            if len(pending) >= self.in_flight:
                break
        while pending:
            batch, ref = pending.popleft()
            results = _collect(ray, batch, ref, submit)
            following = next(queue, None)
            if following is not None:
                pending.append((following, submit(following)))
            yield from results


def _collect(ray: Any, batch: list[str], ref: Any, submit: Any) -> list[ChunkedFile]:
    """A task's results. A task whose worker kept dying (a parser that crashes its process, one
    that runs out of memory) is run again one file a task, so only the file that kills its worker
    is reported, with the reason; the others of its batch are indexed. Any other failure of the
    cluster stops the job (``EngineUnavailable``): its files are not failures of their own, and
    the next run picks them up."""
    try:
        return list(ray.get(ref))
    except (ray.exceptions.WorkerCrashedError, ray.exceptions.OutOfMemoryError) as exc:
        if len(batch) > 1:  # all at once, collected in order
            singles = [([path], submit([path])) for path in batch]
            return [result for one, again in singles for result in _collect(ray, one, again, submit)]
        cause = "ran out of memory" if isinstance(exc, ray.exceptions.OutOfMemoryError) else "crashed its process"
        return [ChunkedFile(batch[0], None, f"the parser {cause} on every try")]
    except ray.exceptions.RayError as exc:
        raise EngineUnavailable(f"the Ray cluster failed while parsing: {str(exc).splitlines()[0]}") from exc
