"""The per-knowledge-base manifest: which file version is indexed as which chunks.

A SQLite file beside the index. Every store write is bracketed by manifest commits: a row is
marked ``writing`` (or ``deleting``) and committed *before* the store changes, and marked
``indexed`` (or removed) *after*. A crash therefore leaves a marker that the next run finds and
repairs, and the store and manifest converge to what a clean run produces.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

Status = Literal["indexed", "failed", "writing", "deleting"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS files (
    path TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    content_hash TEXT NOT NULL,
    doc_id TEXT NOT NULL,
    chunk_ids TEXT NOT NULL DEFAULT '[]',
    parser_version TEXT NOT NULL DEFAULT '',
    embedding_model TEXT NOT NULL DEFAULT '',
    status TEXT NOT NULL,
    error TEXT,
    updated_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS files_status ON files(status);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


@dataclass(slots=True)
class FileRecord:
    path: str
    size: int
    mtime_ns: int
    content_hash: str
    doc_id: str
    status: Status
    chunk_ids: list[str] = field(default_factory=list)
    parser_version: str = ""
    embedding_model: str = ""
    error: str | None = None
    updated_at: float = 0.0  # when the record last changed (set by the manifest on every write)


class Manifest:
    """SQLite-backed file records of one knowledge base; each method commits on its own."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, isolation_level=None, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")  # a committed marker must survive a crash
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Manifest:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- meta ------------------------------------------------------------------------------
    def get_meta(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return str(row[0]) if row else None

    def set_meta(self, key: str, value: str) -> None:
        self._db.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (key, value))

    def folders(self) -> list[str]:
        """The folders jobs have indexed this knowledge base from: what a re-index re-checks by default."""
        raw = self.get_meta("folders")
        return list(json.loads(raw)) if raw else []

    def remember_folders(self, folders: Iterable[str]) -> None:
        """Add ``folders`` (real absolute paths); one inside another recorded folder is covered by it."""
        known = self.folders()
        for folder in folders:
            if any(_within(folder, k) for k in known):
                continue
            known = [k for k in known if not _within(k, folder)] + [folder]
        self.set_meta("folders", json.dumps(sorted(known)))

    # -- files -----------------------------------------------------------------------------
    @staticmethod
    def _record(row: tuple[object, ...]) -> FileRecord:
        path, size, mtime_ns, content_hash, doc_id, chunk_ids, parser, model, status, error, updated = row
        return FileRecord(
            path=str(path),
            size=int(size),  # type: ignore[call-overload]
            mtime_ns=int(mtime_ns),  # type: ignore[call-overload]
            content_hash=str(content_hash),
            doc_id=str(doc_id),
            status=str(status),  # type: ignore[arg-type]
            chunk_ids=list(json.loads(str(chunk_ids))),
            parser_version=str(parser),
            embedding_model=str(model),
            error=str(error) if error is not None else None,
            updated_at=float(updated),  # type: ignore[arg-type]
        )

    _COLUMNS = "path, size, mtime_ns, content_hash, doc_id, chunk_ids, parser_version, embedding_model, status, error"
    _READ = f"{_COLUMNS}, updated_at"

    def get(self, path: str) -> FileRecord | None:
        row = self._db.execute(f"SELECT {self._READ} FROM files WHERE path = ?", (path,)).fetchone()
        return self._record(row) if row else None

    def all(self) -> Iterator[FileRecord]:
        for row in self._db.execute(f"SELECT {self._READ} FROM files ORDER BY path").fetchall():
            yield self._record(row)

    def with_status(self, *statuses: Status) -> list[FileRecord]:
        marks = ",".join("?" for _ in statuses)
        rows = self._db.execute(
            f"SELECT {self._READ} FROM files WHERE status IN ({marks}) ORDER BY path", statuses
        ).fetchall()
        return [self._record(r) for r in rows]

    def by_doc_id(self, doc_id: str) -> FileRecord | None:
        row = self._db.execute(f"SELECT {self._READ} FROM files WHERE doc_id = ?", (doc_id,)).fetchone()
        return self._record(row) if row else None

    def page(self, statuses: Sequence[Status], offset: int, limit: int) -> tuple[list[FileRecord], int]:
        """Records with one of ``statuses``, ordered by path, ``limit`` from ``offset``; and how many match."""
        marks = ",".join("?" for _ in statuses)
        where = f"WHERE status IN ({marks})"
        total = int(self._db.execute(f"SELECT COUNT(*) FROM files {where}", tuple(statuses)).fetchone()[0])
        rows = self._db.execute(
            f"SELECT {self._READ} FROM files {where} ORDER BY path LIMIT ? OFFSET ?", (*statuses, limit, offset)
        ).fetchall()
        return [self._record(r) for r in rows], total

    def put(self, record: FileRecord) -> None:
        self._db.execute(
            f"INSERT OR REPLACE INTO files({self._COLUMNS}, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            (
                record.path,
                record.size,
                record.mtime_ns,
                record.content_hash,
                record.doc_id,
                json.dumps(record.chunk_ids),
                record.parser_version,
                record.embedding_model,
                record.status,
                record.error,
                time.time(),
            ),
        )

    def set_status(self, path: str, status: Status) -> None:
        self._db.execute("UPDATE files SET status = ?, updated_at = ? WHERE path = ?", (status, time.time(), path))

    def touch(self, path: str, size: int, mtime_ns: int) -> None:
        """Record a new size/mtime for a file whose content hash did not change."""
        self._db.execute("UPDATE files SET size = ?, mtime_ns = ? WHERE path = ?", (size, mtime_ns, path))

    def remove(self, path: str) -> None:
        self._db.execute("DELETE FROM files WHERE path = ?", (path,))

    def count(self) -> int:
        """Files the knowledge base knows of (indexed or failing)."""
        return int(self._db.execute("SELECT COUNT(*) FROM files").fetchone()[0])

    def indexed_chunk_count(self) -> int:
        total = 0
        for (chunk_ids,) in self._db.execute("SELECT chunk_ids FROM files WHERE status = 'indexed'"):
            total += len(json.loads(chunk_ids))
        return total

    def known_doc_ids(self) -> set[str]:
        return {str(r[0]) for r in self._db.execute("SELECT doc_id FROM files")}


def _within(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)
