"""Background indexing jobs started over REST, with status that can be polled from any server process.

Status lives in ``rag.api.job_store`` under the data directory, so several server processes over
one data directory agree on every job, and one knowledge base's jobs run one after another in the
order they were created, whichever process took each request.
"""

from __future__ import annotations

import builtins
import logging
import sqlite3
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ingest.errors import JobLocked, MassDeleteRefused, RootUnavailable
from ingest.progress import EndAfterwards, FileOutcome, ProgressListener
from rag.api.job_store import ORPHAN_AFTER_S, JobState, JobStatus, JobStore, job_db_path
from rag.components import Indexing
from rag.metrics import IngestMetrics, Tee

log = logging.getLogger(__name__)

HEARTBEAT_S = 5.0  # how often a manager says its queued and running jobs are alive (well under ORPHAN_AFTER_S)
POLL_S = 0.2  # how often a queued job checks whether the jobs before it, in any process, have ended
PROGRESS_EVERY_S = 0.5  # at most one progress write per job this often; state changes are written at once
STOPPED_BEFORE_RUN = "the server stopped before the job ran"


class _Listener(ProgressListener):
    """Counts a job's progress into its status, and saves it at most every ``PROGRESS_EVERY_S``
    (a job over thousands of files must not write a row per file)."""

    def __init__(self, status: JobStatus, save: Callable[[JobStatus], object]) -> None:
        self.status = status
        self._save = save
        self._saved_at = time.monotonic()

    def files_found(self, total: int) -> None:
        self.status.files_total = total
        self._save_now_and_then(at_once=True)  # once a job: how much there is to do is worth showing

    def file_done(self, outcome: FileOutcome) -> None:
        self.status.files_done += 1
        if outcome.status == "skipped":
            self.status.errors.append({"path": outcome.path, "reason": outcome.reason})
        self._save_now_and_then()

    def chunks_embedded(self, count: int) -> None:
        self.status.chunks_embedded += count
        self._save_now_and_then()

    def _save_now_and_then(self, *, at_once: bool = False) -> None:
        now = time.monotonic()
        if not at_once and now - self._saved_at < PROGRESS_EVERY_S:
            return
        self._saved_at = now
        try:
            self._save(self.status)
        except sqlite3.Error as exc:  # progress is only shown; the job goes on
            log.warning("could not save the progress of job %s: %s", self.status.id, exc)


@dataclass(frozen=True)
class _JobArgs:
    paths: list[Path]
    delete_missing: bool
    full: bool
    allow_mass_delete: bool


class JobManager:
    """Runs the jobs of one knowledge base one after another, in the order they were created,
    across every server process sharing the data directory.

    Two uploads dropped together are two jobs: the second waits ("queued") for the first rather
    than failing on the knowledge-base lock, which still guards against other processes (the CLI).
    A queued job runs once it is the oldest unfinished job of its knowledge base in the job store.
    Jobs of different knowledge bases run side by side, one thread per busy knowledge base.
    The manager's heartbeat keeps its jobs from being taken for those of a process that ended.
    """

    def __init__(
        self,
        components: Indexing,
        ingest_metrics: IngestMetrics | None = None,
        keep: int = 200,
        *,
        heartbeat_s: float = HEARTBEAT_S,
        orphan_after_s: float = ORPHAN_AFTER_S,
    ) -> None:
        self.components = components
        self.ingest_metrics = ingest_metrics
        self.keep = keep
        self.heartbeat_s = heartbeat_s
        self.owner = uuid.uuid4().hex  # not a pid: processes may run on several machines
        self.store = JobStore(job_db_path(components.jobs.data_dir), orphan_after_s=orphan_after_s)
        self._pending: dict[str, deque[tuple[JobStatus, _JobArgs]]] = {}
        self._active: set[str] = set()  # jobs this manager will still run: the heartbeat covers them
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._heart: threading.Thread | None = None

    def get(self, job_id: str) -> JobStatus | None:
        return self.store.get(job_id)

    def list(self, kbs: set[str] | None = None) -> list[JobStatus]:
        return self.store.list(kbs)

    def last_for(self, kb: str) -> JobStatus | None:
        return self.store.last_for(kb)

    def start(
        self,
        kb: str,
        paths: builtins.list[Path],
        *,
        delete_missing: bool,
        full: bool = False,
        kind: str = "reindex",
        allow_mass_delete: bool = False,
    ) -> JobStatus:
        status = JobStatus(id=uuid.uuid4().hex, kb=kb, kind=kind)
        args = _JobArgs(paths, delete_missing, full, allow_mass_delete)
        with self._lock:  # the store's order and this process's queue agree
            if self._stopped.is_set():
                raise RuntimeError("the job manager is closed")
            self.store.add(status, self.owner)
            self._active.add(status.id)
            queue = self._pending.get(kb)
            idle = queue is None
            if queue is None:
                queue = self._pending[kb] = deque()
            queue.append((status, args))
            self._start_heartbeat()
        self.store.prune(self.keep)
        if idle:
            threading.Thread(target=self._drain, args=(kb,), name=f"jobs-{kb}", daemon=True).start()
        return status

    def close(self) -> None:
        """Stop the heartbeat and fail this manager's jobs that have not started: nothing else runs them.
        A running job goes on to its end while the process lives."""
        self._stopped.set()
        try:
            self.store.fail_queued(self.owner, STOPPED_BEFORE_RUN)
        except sqlite3.Error as exc:  # they are failed as orphaned once their heartbeat is old enough
            log.warning("could not fail the jobs that had not started: %s", exc)

    def run_locked(self, kb: str, action: Callable[[Any], Any]) -> Any:
        """Run ``action(job)`` synchronously under the knowledge base's lock (document deletes)."""
        with self.components.jobs.open(kb, workers=0, job="delete") as job:
            return action(job)

    def _start_heartbeat(self) -> None:
        if self._heart is None:
            self._heart = threading.Thread(target=self._beat, name="jobs-heartbeat", daemon=True)
            self._heart.start()

    def _beat(self) -> None:
        while not self._stopped.wait(self.heartbeat_s):
            with self._lock:
                active = builtins.list(self._active)
            if not active:
                continue
            try:
                self.store.beat(active)
            except sqlite3.Error as exc:  # the next beat tries again, well before the jobs count as orphaned
                log.warning("job heartbeat not written: %s", exc)

    def _drain(self, kb: str) -> None:
        """Run this process's queued jobs of the knowledge base in order; the thread ends when none is left."""
        while True:
            with self._lock:
                queue = self._pending[kb]
                if not queue:
                    del self._pending[kb]
                    return
                status, args = queue.popleft()
            try:
                if self._wait_for_turn(status):
                    self._run(status, args)
            except Exception:  # the store failed; the job, no longer beating, is failed as orphaned
                log.exception("job %s could not be run", status.id)
            finally:
                with self._lock:
                    self._active.discard(status.id)

    def _wait_for_turn(self, status: JobStatus) -> bool:
        """Wait until every older job of the knowledge base, in any process, has ended.
        False when this job ended meanwhile (failed as orphaned, or the manager was closed)."""
        while not self._stopped.is_set():
            head = self.store.head_of_queue(status.id)
            if head is None:
                return False
            if head == status.id:
                return True
            self._stopped.wait(POLL_S)
        return False

    def _run(self, status: JobStatus, args: _JobArgs) -> None:
        status.state = "running"
        status.started_at = time.time()
        if not self.store.save(status):  # ended while it waited
            return
        # the metrics hear the end only once the swap of a full rebuild is done too
        counted = EndAfterwards(self.ingest_metrics) if self.ingest_metrics is not None else None
        own = _Listener(status, self.store.save)
        listener: ProgressListener = own if counted is None else Tee(own, counted)
        try:
            with self.components.jobs.open(status.kb, job=status.kind, full=args.full) as job:
                report = job.run(
                    args.paths,
                    delete_missing=args.delete_missing,
                    allow_mass_delete=args.allow_mass_delete,
                    progress=listener,
                )
            status.summary = report.summary()
            status.state = "succeeded" if report.ok else "partial"
            if counted is not None:
                counted.finish()
        except Exception as exc:
            if isinstance(exc, JobLocked | RootUnavailable | MassDeleteRefused):  # refused before any change
                status.message = str(exc)
            else:  # reported through the job status, never lost
                log.exception("job %s failed", status.id)
                status.message = f"{type(exc).__name__}: {exc}"
            status.state = "failed"
            if counted is not None:
                counted.fail(exc, time.time() - status.started_at)
        finally:
            status.finished_at = time.time()
            if not self.store.save(status):
                log.warning("job %s ended as %s after it had been failed as orphaned", status.id, status.state)


__all__ = ["JobManager", "JobState", "JobStatus"]
