"""Job status in SQLite under the data directory, so every server process sharing it answers alike.

One row per job. ``seq`` is the order jobs were created in across all processes (the order a
knowledge base's jobs run in). ``owner`` is the job manager that will run the job and ``heartbeat``
the last time it said it is alive: a job whose owner went quiet is failed by whoever looks next.
Clocks are compared across machines, so their drift must stay well under ``ORPHAN_AFTER_S``.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

ORPHAN_AFTER_S = 30.0  # a job whose heartbeat is older than this lost its process
BUSY_TIMEOUT_S = 5.0  # how long a statement waits for another process's write to end
QUEUED_ORPHAN = "the server process that queued this job ended before it ran"
RUNNING_ORPHAN = "the server process running this job ended before it finished"

JobState = Literal["queued", "running", "succeeded", "partial", "failed"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    kb TEXT NOT NULL,
    kind TEXT NOT NULL,
    state TEXT NOT NULL,
    created_at REAL NOT NULL,
    started_at REAL,
    finished_at REAL,
    files_total INTEGER NOT NULL DEFAULT 0,
    files_done INTEGER NOT NULL DEFAULT 0,
    chunks_embedded INTEGER NOT NULL DEFAULT 0,
    errors TEXT NOT NULL DEFAULT '[]',
    summary TEXT,
    message TEXT,
    owner TEXT NOT NULL,
    heartbeat REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS jobs_by_kb ON jobs (kb, seq);
"""
_COLUMNS = (
    "id, kb, kind, created_at, state, started_at, finished_at, files_total, files_done, chunks_embedded, "
    "errors, summary, message"
)


@dataclass
class JobStatus:
    """What ``GET /jobs/{id}`` returns."""

    id: str
    kb: str
    kind: str
    state: JobState = "queued"
    created_at: float = field(default_factory=time.time)
    started_at: float | None = None
    finished_at: float | None = None
    files_total: int = 0
    files_done: int = 0
    chunks_embedded: int = 0
    errors: list[dict[str, str | None]] = field(default_factory=list)
    summary: dict[str, Any] | None = None
    message: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def job_db_path(data_dir: Path) -> Path:
    return data_dir / "api" / "jobs.sqlite3"


class JobStore:
    """The jobs table; one connection per store, shared by its threads under a lock."""

    def __init__(self, path: Path, orphan_after_s: float = ORPHAN_AFTER_S) -> None:
        self.path = path
        self.orphan_after_s = orphan_after_s
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")  # readers in other processes never wait for a writer
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        self._lock = threading.Lock()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One short transaction that takes the write lock at once (no upgrade deadlock)."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _read(self, sql: str, params: Iterable[Any] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._db.execute(sql, tuple(params)).fetchall()

    def add(self, status: JobStatus, owner: str) -> None:
        with self._write() as db:
            db.execute(
                f"INSERT INTO jobs ({_COLUMNS}, owner, heartbeat) VALUES ({', '.join('?' * 15)})",
                (status.id, status.kb, status.kind, status.created_at, *_progress(status), owner, time.time()),
            )

    def save(self, status: JobStatus) -> bool:
        """Write the job's state and counts unless it has ended already; False when it had (an
        ended job never changes again, so a job failed as orphaned stays failed)."""
        with self._write() as db:
            cursor = db.execute(
                "UPDATE jobs SET state = ?, started_at = ?, finished_at = ?, files_total = ?, files_done = ?, "
                "chunks_embedded = ?, errors = ?, summary = ?, message = ?, heartbeat = ? "
                "WHERE id = ? AND finished_at IS NULL",
                (*_progress(status), time.time(), status.id),
            )
            return cursor.rowcount == 1

    def beat(self, job_ids: Iterable[str]) -> None:
        """Say the owner of these jobs is alive."""
        now = time.time()
        with self._write() as db:
            db.executemany(
                "UPDATE jobs SET heartbeat = ? WHERE id = ? AND finished_at IS NULL", [(now, i) for i in job_ids]
            )

    def fail_queued(self, owner: str, message: str) -> None:
        """Fail the owner's jobs that have not started (its process is stopping; no one else runs them)."""
        with self._write() as db:
            db.execute(
                "UPDATE jobs SET state = 'failed', finished_at = ?, message = ? "
                "WHERE owner = ? AND state = 'queued' AND finished_at IS NULL",
                (time.time(), message, owner),
            )

    def get(self, job_id: str) -> JobStatus | None:
        self._reap()
        rows = self._read(f"SELECT {_COLUMNS} FROM jobs WHERE id = ?", (job_id,))
        return _status(rows[0]) if rows else None

    def list(self, kbs: set[str] | None = None) -> list[JobStatus]:
        self._reap()
        rows = self._read(f"SELECT {_COLUMNS} FROM jobs ORDER BY seq")
        return [s for s in map(_status, rows) if kbs is None or s.kb in kbs]

    def last_for(self, kb: str) -> JobStatus | None:
        self._reap()
        rows = self._read(f"SELECT {_COLUMNS} FROM jobs WHERE kb = ? ORDER BY seq DESC LIMIT 1", (kb,))
        return _status(rows[0]) if rows else None

    def head_of_queue(self, job_id: str) -> str | None:
        """The oldest unfinished job of ``job_id``'s knowledge base (``job_id`` when its turn has
        come); None once ``job_id`` itself has ended."""
        self._reap()
        rows = self._read(
            "SELECT j.id FROM jobs j JOIN jobs me ON me.id = ? AND me.finished_at IS NULL "
            "WHERE j.kb = me.kb AND j.finished_at IS NULL AND j.seq <= me.seq ORDER BY j.seq LIMIT 1",
            (job_id,),
        )
        return str(rows[0][0]) if rows else None

    def prune(self, keep: int) -> None:
        """Forget the oldest ended jobs while more than ``keep`` jobs are known."""
        with self._write() as db:
            (total,) = db.execute("SELECT COUNT(*) FROM jobs").fetchone()
            db.execute(
                "DELETE FROM jobs WHERE seq IN "
                "(SELECT seq FROM jobs WHERE finished_at IS NOT NULL ORDER BY seq LIMIT ?)",
                (max(0, int(total) - keep),),
            )

    def _reap(self) -> None:
        """Fail the unfinished jobs whose owner stopped beating, so none blocks its queue for ever.
        A read decides first: nothing is written while every owner is alive."""
        cutoff = time.time() - self.orphan_after_s
        stale = "finished_at IS NULL AND heartbeat < ?"
        if not self._read(f"SELECT 1 FROM jobs WHERE {stale} LIMIT 1", (cutoff,)):
            return
        with self._write() as db:
            db.execute(
                "UPDATE jobs SET finished_at = ?, "
                "message = CASE state WHEN 'queued' THEN ? ELSE ? END, state = 'failed' "
                f"WHERE {stale}",
                (time.time(), QUEUED_ORPHAN, RUNNING_ORPHAN, cutoff),
            )

    def close(self) -> None:
        with self._lock:
            self._db.close()


def _progress(status: JobStatus) -> tuple[Any, ...]:
    """What changes while a job runs, in ``_COLUMNS`` order (after id, kb, kind, created_at)."""
    summary = None if status.summary is None else json.dumps(status.summary, default=str)
    return (
        status.state,
        status.started_at,
        status.finished_at,
        status.files_total,
        status.files_done,
        status.chunks_embedded,
        json.dumps(status.errors, default=str),
        summary,
        status.message,
    )


def _status(row: tuple[Any, ...]) -> JobStatus:
    (job_id, kb, kind, created, state, started, finished, total, done, chunks, errors, summary, message) = row
    return JobStatus(
        id=job_id,
        kb=kb,
        kind=kind,
        state=state,
        created_at=created,
        started_at=started,
        finished_at=finished,
        files_total=total,
        files_done=done,
        chunks_embedded=chunks,
        errors=json.loads(errors),
        summary=None if summary is None else json.loads(summary),
        message=message,
    )
