"""A full disk is recognised under whatever wraps it, and nothing else is taken for one."""

from __future__ import annotations

import errno
import sqlite3
from pathlib import Path

import pytest

from ingest.errors import VectorIndexError
from ingest.storage_errors import DataDirFull, disk_full

DATA = Path("/srv/askdocs")


def _wrapped(inner: BaseException) -> VectorIndexError:
    """A store's error raised from the OS or SQLite error, as the stores raise them."""
    try:
        try:
            raise inner
        except BaseException as exc:
            raise VectorIndexError("writing to knowledge base 'kb' failed") from exc
    except VectorIndexError as outer:
        return outer


@pytest.mark.parametrize(
    "inner",
    [
        OSError(errno.ENOSPC, "No space left on device"),
        OSError(errno.EDQUOT, "Disk quota exceeded"),
        sqlite3.OperationalError("database or disk is full"),
        RuntimeError("Error executing plan: Internal error: no space left on device (os error 28)"),
    ],
    ids=["enospc", "quota", "sqlite", "rust-store"],
)
def test_a_full_disk_is_found_under_the_error_that_wraps_it(inner: BaseException) -> None:
    found = disk_full(_wrapped(inner), DATA)
    assert isinstance(found, DataDirFull)
    assert str(DATA) in str(found) and "run the job again" in str(found)


@pytest.mark.parametrize(
    "inner",
    [OSError(errno.EACCES, "Permission denied"), sqlite3.OperationalError("database is locked"), ValueError("bad")],
    ids=["permission", "locked", "value"],
)
def test_other_failures_are_not_a_full_disk(inner: BaseException) -> None:
    assert disk_full(_wrapped(inner), DATA) is None


def test_a_cycle_of_causes_ends() -> None:
    first, second = RuntimeError("a"), RuntimeError("b")
    first.__cause__, second.__cause__ = second, first
    assert disk_full(first, DATA) is None
