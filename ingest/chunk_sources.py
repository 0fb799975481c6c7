"""Where a job's chunked documents come from: parsed in local worker processes and chunked in the
job's own process (the local engine), or parsed and chunked on a cluster (``ingest.ray_engine``).

Either way a job sees one ``ChunkedFile`` per path, in the order of the paths, so what it writes
does not depend on the engine.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

from ingest.chunking import Chunker
from ingest.limits import FileLimits
from ingest.parallel import Parsed, parse_files
from ingest.writing import EMBED_WINDOW, PROGRESS_SLICE, ChunkedDocument, chunk_document


@dataclass(frozen=True, slots=True)
class ChunkedFile:
    """A file's chunks, or the reason it cannot be indexed (a person can act on it)."""

    path: str
    chunked: ChunkedDocument | None
    reason: str | None = None


def chunk_parsed(parsed: Parsed, chunker: Chunker, kb: str, limits: FileLimits) -> ChunkedFile:
    """A parse result chunked within the per-file limits: the one rule both engines follow."""
    if parsed.document is None:
        return ChunkedFile(parsed.path, None, parsed.error or "unreadable")
    chunked = chunk_document(chunker, parsed.document, kb, limits)
    if isinstance(chunked, str):
        return ChunkedFile(parsed.path, None, chunked)
    return ChunkedFile(parsed.path, chunked)


class ChunkSource(Protocol):
    """Turns the files a job indexes into chunked documents, in input order, with bounded memory."""

    def chunk_files(self, paths: list[str], kb: str, chunker: Chunker, limits: FileLimits) -> Iterator[ChunkedFile]: ...


@dataclass(frozen=True, slots=True)
class LocalChunkSource:
    """Parser processes on this machine (``ingest.parallel``); chunking in the job's process."""

    workers: int | None = None

    def chunk_files(self, paths: list[str], kb: str, chunker: Chunker, limits: FileLimits) -> Iterator[ChunkedFile]:
        for parsed in parse_files(paths, kb, self.workers, limits):
            yield chunk_parsed(parsed, chunker, kb, limits)


@dataclass(frozen=True, slots=True)
class JobEngine:
    """What runs a job's parsing, chunking and embedding: the pieces ``ReindexJob`` is given.

    The local engine's embedder is the one the job was opened with; another engine brings its own
    (``ingest.ray_engine.RayEmbedder``), and embeds ``embed_slice`` texts a call so each of its
    workers gets one encoder batch.
    """

    name: str
    source: ChunkSource
    embed_slice: int = PROGRESS_SLICE
    embed_window: int = EMBED_WINDOW


def local_engine(workers: int | None = None) -> JobEngine:
    return JobEngine("local", LocalChunkSource(workers))
