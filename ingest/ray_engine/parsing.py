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

        def submit(batch: list[str]) -> None:
            ref = task.remote(batch, kb, limits, chunker.config, chunker.max_tokens, self._counter_ref)
            pending.append((batch, ref))

        for batch in queue:
            submit(batch)
            if len(pending) >= self.in_flight:
                break
        while pending:
            batch, ref = pending.popleft()
            try:
                results: list[ChunkedFile] = ray.get(ref)
            except ray.exceptions.RayError as exc:  # its worker was lost more than max_retries times
                reason = f"parse task failed on the cluster: {str(exc).splitlines()[0]}"
                results = [ChunkedFile(path, None, reason) for path in batch]
            following = next(queue, None)
            if following is not None:
                submit(following)
            yield from results
