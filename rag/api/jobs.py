"""Background indexing jobs started over REST, with status that can be polled."""

from __future__ import annotations

import builtins
import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from ingest.errors import JobLocked, MassDeleteRefused, RootUnavailable
from ingest.progress import FileOutcome, JobReport, ProgressListener
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
        self.ended = False  # the job's run said how it ended (the metrics heard it too)

    def files_found(self, total: int) -> None:
        self.status.files_total = total

    def file_done(self, outcome: FileOutcome) -> None:
        self.status.files_done += 1
        if outcome.status == "skipped":
            self.status.errors.append({"path": outcome.path, "reason": outcome.reason})

    def chunks_embedded(self, count: int) -> None:
        self.status.chunks_embedded += count

    def job_done(self, report: JobReport) -> None:  # noqa: ARG002 - the summary is read from the report
        self.ended = True

    def job_failed(self, error: BaseException, seconds: float) -> None:  # noqa: ARG002
        self.ended = True


class JobManager:
    """Runs one thread per job; the knowledge-base lock keeps two jobs off the same knowledge base."""

    def __init__(self, components: Components, ingest_metrics: IngestMetrics | None = None, keep: int = 200) -> None:
        self.components = components
        self.ingest_metrics = ingest_metrics
        self.keep = keep
        self._jobs: dict[str, JobStatus] = {}
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
        with self._lock:
            self._jobs[status.id] = status
            if len(self._jobs) > self.keep:
                for old in sorted(self._jobs.values(), key=lambda j: j.created_at)[: len(self._jobs) - self.keep]:
                    self._jobs.pop(old.id, None)
        thread = threading.Thread(
            target=self._run,
            args=(status, paths, delete_missing, full, allow_mass_delete),
            name=f"job-{status.id[:8]}",
            daemon=True,
        )
        thread.start()
        return status

    def run_locked(self, kb: str, action: Callable[[Any], Any]) -> Any:
        """Run ``action(job)`` synchronously under the knowledge base's lock (document deletes)."""
        with self.components.jobs.open(kb, workers=0, job="delete") as job:
            return action(job)

    def _run(
        self, status: JobStatus, paths: builtins.list[Path], delete_missing: bool, full: bool, allow_mass_delete: bool
    ) -> None:
        status.state = "running"
        status.started_at = time.time()
        heard = _Listener(status)
        listener: ProgressListener = heard
        if self.ingest_metrics is not None:
            listener = Tee(heard, self.ingest_metrics)
        try:
            with self.components.jobs.open(status.kb, job=status.kind, full=full) as job:
                report = job.run(
                    paths, delete_missing=delete_missing, allow_mass_delete=allow_mass_delete, progress=listener
                )
            status.summary = report.summary()
            status.state = "succeeded" if report.ok else "partial"
        except (JobLocked, RootUnavailable, MassDeleteRefused) as exc:  # refused before any change: said as is
            status.state, status.message = "failed", str(exc)
        except Exception as exc:  # reported through the job status, never lost
            log.exception("job %s failed", status.id)
            status.state, status.message = "failed", f"{type(exc).__name__}: {exc}"
        finally:
            status.finished_at = time.time()
            if status.state == "failed" and self.ingest_metrics is not None and not heard.ended:
                # refused or failed outside the job's run (the lock, a swap), so not yet counted
                self.ingest_metrics.record_job(status.finished_at - (status.started_at or status.created_at), "failed")
