"""Per-file limits: the most one file may cost to read, unpack and index.

A file over a limit is skipped with a reason that names the limit and its setting; the rest
of the batch is indexed. Limits are plain data so that parse workers receive them.
"""

from __future__ import annotations

from dataclasses import dataclass

MB = 1_000_000


def megabytes(size: int) -> str:
    """``12,345,678`` -> ``"12.3 MB"`` (decimal megabytes, as file managers show them)."""
    return f"{size / MB:,.1f} MB"


@dataclass(frozen=True, slots=True)
class FileLimits:
    """``max_file_bytes``: the file on disk; ``max_unpacked_bytes``: what a DOCX/PPTX/XLSX (a zip)
    or the compressed streams of a PDF expand to; ``max_chunks``: chunks indexed from one file."""

    max_file_bytes: int = 100 * MB
    max_unpacked_bytes: int = 256 * MB
    max_chunks: int = 5000

    def file_too_large(self, size: int) -> str | None:
        if size <= self.max_file_bytes:
            return None
        return (
            f"file is {megabytes(size)}, larger than the limit of {megabytes(self.max_file_bytes)} "
            "(RAG_INGEST__MAX_FILE_MB)"
        )

    def unpacks_too_large(self, what: str, size: int) -> str | None:
        if size <= self.max_unpacked_bytes:
            return None
        return (
            f"{what} unpack to more than {megabytes(self.max_unpacked_bytes)} (RAG_INGEST__MAX_UNPACKED_MB): "
            "a decompression bomb, or a document too large to index"
        )

    def too_many_chunks(self) -> str:
        return (
            f"more than {self.max_chunks:,} chunks from one file (RAG_INGEST__MAX_CHUNKS_PER_FILE): "
            "split the file, or raise the limit"
        )
