"""Background indexing jobs started over REST, with status that can be polled."""

from __future__ import annotations

import builtins
import logging
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from ingest.errors import JobLocked, MassDeleteRefused, RootUnavailable
from ingest.progress import EndAfterwards, FileOutcome, ProgressListener
from rag.components import Components
from rag.metrics import IngestMetrics, Tee

log = logging.getLogger(__name__)

JobState = Literal["queued", "running", "succeeded", "partial", "failed"]


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


class _Listener(ProgressListener):
    def __init__(self, status: JobStatus) -> None:
        self.status = status

    def files_found(self, total: int) -> None:
        self.status.files_total = total

    def file_done(self, outcome: FileOutcome) -> None:
        self.status.files_done += 1
        if outcome.status == "skipped":
            self.status.errors.append({"path": outcome.path, "reason": outcome.reason})

    def chunks_embedded(self, count: int) -> None:
        self.status.chunks_embedded += count


@dataclass(frozen=True)
class _JobArgs:
    paths: list[Path]
    delete_missing: bool
    full: bool
    allow_mass_delete: bool


class JobManager:
    """Runs the jobs of one knowledge base one after another, in the order they were started.

    Two uploads dropped together are two jobs: the second waits ("queued") for the first rather
    than failing on the knowledge-base lock, which still guards against other processes.
    Jobs of different knowledge bases run side by side, one thread per busy knowledge base.
    """

    def __init__(self, components: Components, ingest_metrics: IngestMetrics | None = None, keep: int = 200) -> None:
        self.components = components
        self.ingest_metrics = ingest_metrics
        self.keep = keep
        self._jobs: dict[str, JobStatus] = {}
        self._pending: dict[str, deque[tuple[JobStatus, _JobArgs]]] = {}
        self._lock = threading.Lock()

    def get(self, job_id: str) -> JobStatus | None:
        with self._lock:
            return self._jobs.get(job_id)

    def list(self, kbs: set[str] | None = None) -> list[JobStatus]:
        with self._lock:
            jobs = list(self._jobs.values())
        return [j for j in jobs if kbs is None or j.kb in kbs]

    def last_for(self, kb: str) -> JobStatus | None:
        jobs = self.list({kb})
        return max(jobs, key=lambda j: j.created_at) if jobs else None

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
        with self._lock:
            self._jobs[status.id] = status
            if len(self._jobs) > self.keep:
                ended = [j for j in self._jobs.values() if j.finished_at is not None]
                for old in sorted(ended, key=lambda j: j.created_at)[: len(self._jobs) - self.keep]:
                    self._jobs.pop(old.id, None)
            queue = self._pending.get(kb)
            idle = queue is None
            if queue is None:
                queue = self._pending[kb] = deque()
            queue.append((status, args))
        if idle:
            threading.Thread(target=self._drain, args=(kb,), name=f"jobs-{kb}", daemon=True).start()
        return status

    def _drain(self, kb: str) -> None:
        """Run the knowledge base's queued jobs in order; the thread ends when none is left."""
        while True:
            with self._lock:
                queue = self._pending[kb]
                if not queue:
                    del self._pending[kb]
                    return
                status, args = queue.popleft()
            self._run(status, args.paths, args.delete_missing, args.full, args.allow_mass_delete)

    def run_locked(self, kb: str, action: Callable[[Any], Any]) -> Any:
        """Run ``action(job)`` synchronously under the knowledge base's lock (document deletes)."""
        with self.components.jobs.open(kb, workers=0, job="delete") as job:
            return action(job)

    def _run(
        self, status: JobStatus, paths: builtins.list[Path], delete_missing: bool, full: bool, allow_mass_delete: bool
    ) -> None:
        status.state = "running"
        status.started_at = time.time()
        # the metrics hear the end only once the swap of a full rebuild is done too
        counted = EndAfterwards(self.ingest_metrics) if self.ingest_metrics is not None else None
        listener: ProgressListener = _Listener(status) if counted is None else Tee(_Listener(status), counted)
        try:
            with self.components.jobs.open(status.kb, job=status.kind, full=full) as job:
                report = job.run(
                    paths, delete_missing=delete_missing, allow_mass_delete=allow_mass_delete, progress=listener
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
