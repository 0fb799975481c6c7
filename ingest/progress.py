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
