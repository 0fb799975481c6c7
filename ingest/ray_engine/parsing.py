"""Parsing and chunking as Ray tasks: one task a file, a bounded number in flight, results handed
to the job in input order (so windows, batches and vectors are those of the local engine)."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from ingest.chunk_sources import ChunkedFile, chunk_parsed
from ingest.chunking import Chunker, ChunkingConfig
from ingest.limits import FileLimits
from ingest.parallel import parse_one
from ingest.ray_engine.tokens import TokenCounter


def parse_and_chunk(
    path: str, kb: str, limits: FileLimits, config: ChunkingConfig, max_tokens: int, counter: TokenCounter
) -> ChunkedFile:
    """Runs on a worker: the file read where it lies (a shared filesystem), parsed, chunked."""
    chunker = Chunker(counter, config, max_tokens=max_tokens)
    return chunk_parsed(parse_one(path, kb, limits), chunker, kb, limits)


@dataclass(slots=True)
class RayChunkSource:
    """``ChunkSource`` on a cluster: ``in_flight`` files at most, so the driver's memory stays flat."""

    counter: TokenCounter
    in_flight: int
    max_retries: int = 3
    _counter_ref: Any = None

    def chunk_files(self, paths: list[str], kb: str, chunker: Chunker, limits: FileLimits) -> Iterator[ChunkedFile]:
        import ray

        if self._counter_ref is None:
            self._counter_ref = ray.put(self.counter)  # sent to the object store once, not per task
        task = ray.remote(parse_and_chunk).options(num_cpus=1, max_retries=self.max_retries)
        pending: deque[tuple[str, Any]] = deque()
        queue = iter(paths)

        def submit(path: str) -> None:
            ref = task.remote(path, kb, limits, chunker.config, chunker.max_tokens, self._counter_ref)
            pending.append((path, ref))

        for path in queue:
            submit(path)
            if len(pending) >= self.in_flight:
                break
        while pending:
            path, ref = pending.popleft()
            try:
                result: ChunkedFile = ray.get(ref)
            except ray.exceptions.RayError as exc:  # its worker was lost more than max_retries times
                result = ChunkedFile(path, None, f"parse task failed on the cluster: {str(exc).splitlines()[0]}")
            following = next(queue, None)
            if following is not None:
                submit(following)
            yield result
