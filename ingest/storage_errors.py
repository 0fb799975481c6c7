"""Recognising a full disk under whatever wraps it (SQLite, Chroma, the lexical index, the OS).

A data directory that fills up shows as ``OSError(ENOSPC)``, SQLite's "database or disk is full",
or a store's own error with one of those inside; jobs turn any of them into ``DataDirFull``, one
message that says what happened and what to do. Writes are ordered so that a job stopped this
way leaves markers the next job repairs (see ``ingest.manifest``): what was indexed before stays
searchable, and a run with space completes.
"""

from __future__ import annotations

import errno
import sqlite3
from pathlib import Path

from ingest.errors import IngestError

_FULL_ERRNOS = {errno.ENOSPC, errno.EDQUOT}
_FULL_TEXT = ("no space left on device", "database or disk is full", "disk quota exceeded", "disk is full")


class DataDirFull(IngestError):
    """The data directory ran out of space (or quota) during a job."""


def _is_full(exc: BaseException) -> bool:
    if isinstance(exc, OSError) and exc.errno in _FULL_ERRNOS:
        return True
    if isinstance(exc, sqlite3.Error) and getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL:
        return True
    text = str(exc).lower()
    return any(marker in text for marker in _FULL_TEXT)


def disk_full(exc: BaseException, data_dir: Path) -> DataDirFull | None:
    """``DataDirFull`` when ``exc`` or anything it was raised from is a full disk, else None."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if _is_full(current):
            return DataDirFull(
                f"the data directory {data_dir} is full ({current}); the job stopped, and the knowledge base "
                "still serves what was indexed before; free some space and run the job again"
            )
        current = current.__cause__ or current.__context__
    return None
