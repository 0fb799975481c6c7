"""What a job tells its listeners as it goes: files found, each file's outcome, chunks embedded,
the job's end. The CLI draws a bar from it, the API's job status and the metrics count it."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, Protocol, TypeVar

Status = Literal["indexed", "skipped"]


@dataclass(frozen=True, slots=True)
class FileOutcome:
    path: str
    status: Status
    chunks: int = 0
    reason: str | None = None


class JobReport(Protocol):
    """What every job's report says at its end (``IngestReport``, ``ReindexReport``)."""

    @property
    def ok(self) -> bool:
        """Nothing failed or was skipped."""
        ...

    seconds: float


class ProgressListener:
    """Receives progress as it happens. Methods do nothing by default."""

    def files_found(self, total: int) -> None:  # noqa: B027 - optional hook
        pass

    def file_done(self, outcome: FileOutcome) -> None:  # noqa: B027 - optional hook
        pass

    def chunks_embedded(self, count: int) -> None:  # noqa: B027 - optional hook
        pass

    def job_done(self, report: JobReport) -> None:  # noqa: B027 - optional hook (metrics)
        pass

    def job_failed(self, error: BaseException, seconds: float) -> None:  # noqa: B027 - optional hook (metrics)
        pass


class EndAfterwards(ProgressListener):
    """Passes progress on to ``inner`` but holds the job's end until ``finish`` or ``fail``.

    A full rebuild has not succeeded when its run has, only when its swap has: a swap that fails
    makes the whole job failed, so whoever counts outcomes must hear the end after the swap.
    """

    def __init__(self, inner: ProgressListener) -> None:
        self.inner = inner
        self._report: JobReport | None = None

    def files_found(self, total: int) -> None:
        self.inner.files_found(total)

    def file_done(self, outcome: FileOutcome) -> None:
        self.inner.file_done(outcome)

    def chunks_embedded(self, count: int) -> None:
        self.inner.chunks_embedded(count)

    def job_done(self, report: JobReport) -> None:
        self._report = report

    def job_failed(self, error: BaseException, seconds: float) -> None:
        pass  # told by ``fail``, which the caller reaches with the same error

    def finish(self) -> None:
        """Everything after the run went through: tell the run's own end."""
        if self._report is not None:
            self.inner.job_done(self._report)

    def fail(self, error: BaseException, seconds: float) -> None:
        """The job failed, in its run or after it (the lock, a swap)."""
        self.inner.job_failed(error, seconds)


R = TypeVar("R", bound=JobReport)


def run_reported(progress: ProgressListener, job: Callable[[], R]) -> R:
    """Run ``job``, timing it into its report and telling ``progress`` how it ended."""
    started = time.perf_counter()
    try:
        report = job()
    except BaseException as exc:
        progress.job_failed(exc, time.perf_counter() - started)
        raise
    report.seconds = time.perf_counter() - started
    progress.job_done(report)
    return report
