"""REST jobs answered by any server process: two ``JobManager``s over one data directory stand in
for two workers. Status, queueing and orphaned jobs go through the shared job store."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from ingest.embedders.factory import EmbedderChoice
from ingest.locking import KbLock
from ingest.progress import FileOutcome
from ingest.rebuild import KbFiles
from rag.api.job_store import QUEUED_ORPHAN, RUNNING_ORPHAN, JobStatus, JobStore, job_db_path
from rag.api.jobs import PROGRESS_EVERY_S, STOPPED_BEFORE_RUN, JobManager, _Listener
from rag.components import Indexing, build_indexing
from rag.settings import RagSettings

pytestmark = pytest.mark.integration

ENDED = ("succeeded", "partial", "failed")


class GatedEmbedder:
    """The bundled model, except that each embedding call waits until the test lets one through."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.gate = threading.Semaphore(0)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        if not self.gate.acquire(timeout=120):
            raise RuntimeError("the test never let this embedding call through")
        result: list[list[float]] = self._inner.embed_documents(texts)
        return result


class SlowEmbedder:
    """The bundled model, slowed down so that jobs that overlapped would be caught at it."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        time.sleep(0.3)
        result: list[list[float]] = self._inner.embed_documents(texts)
        return result


@pytest.fixture
def managers() -> Iterator[Callable[..., JobManager]]:
    """Makes job managers (workers) and closes them when the test ends."""
    made: list[JobManager] = []

    def make(indexing: Indexing, **options: Any) -> JobManager:
        manager = JobManager(indexing, **options)
        made.append(manager)
        return manager

    yield make
    for manager in made:
        manager.close()


def indexing_over(data_dir: Path, embedder: Any) -> Indexing:
    return build_indexing(RagSettings(data_dir=data_dir), embedder_choice=EmbedderChoice(embedder, "test"))


def write_docs(folder: Path, count: int) -> Path:
    """``count`` one-chunk Markdown files whose text no other test embeds."""
    folder.mkdir(parents=True, exist_ok=True)
    for n in range(count):
        (folder / f"note-{n}.md").write_text(f"# Note {n}\n\nEntry {n} of batch {uuid.uuid4().hex}.\n")
    return folder


def wait_until(
    check: Callable[[], JobStatus | None], done: Callable[[JobStatus], bool], timeout: float = 120
) -> JobStatus:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = check()
        if status is not None and done(status):
            return status
        time.sleep(0.05)
    raise AssertionError(f"not reached in {timeout} s; last seen: {check()}")


def ended(manager: JobManager, job_id: str) -> JobStatus:
    return wait_until(lambda: manager.get(job_id), lambda s: s.state in ENDED)


def test_a_job_started_by_one_worker_is_seen_by_the_other_as_it_goes(
    tmp_path: Path, bundled_embedder: Any, managers: Callable[..., JobManager]
) -> None:
    embedder = GatedEmbedder(bundled_embedder)
    indexing = indexing_over(tmp_path / "data", embedder)
    first, second = managers(indexing), managers(indexing)
    docs = write_docs(tmp_path / "docs", 70)  # three embedding calls of 32, 32 and 6 chunks

    job_id = first.start("shared", [docs], delete_missing=True).id
    seen = wait_until(lambda: second.get(job_id), lambda s: s.state == "running" and s.files_total == 70)
    assert seen.files_done == 0 and seen.kb == "shared" and seen.kind == "reindex" and seen.summary is None

    time.sleep(PROGRESS_EVERY_S + 0.1)  # the next progress is due as soon as the first call returns
    embedder.gate.release()
    seen = wait_until(lambda: second.get(job_id), lambda s: s.chunks_embedded >= 32)
    assert seen.state == "running"  # the second call is held
    time.sleep(PROGRESS_EVERY_S + 0.1)
    embedder.gate.release()
    seen = wait_until(lambda: second.get(job_id), lambda s: s.files_done >= 32)
    assert seen.state == "running" and seen.files_done < 70

    embedder.gate.release(10)
    final = ended(second, job_id)
    assert final.state == "succeeded" and final.files_done == 70 and final.chunks_embedded == 70
    assert final.summary is not None and final.summary["indexed"] == 70
    mirrored = first.get(job_id)
    assert mirrored is not None and final.to_dict() == mirrored.to_dict()
    assert second.last_for("shared") == final and [j.id for j in second.list({"shared"})] == [job_id]
    assert list(final.to_dict()) == list(JobStatus("x", "kb", "reindex").to_dict())  # the public shape


def test_jobs_of_one_knowledge_base_run_in_creation_order_across_workers(
    tmp_path: Path, bundled_embedder: Any, managers: Callable[..., JobManager]
) -> None:
    indexing = indexing_over(tmp_path / "data", SlowEmbedder(bundled_embedder))
    workers = [managers(indexing), managers(indexing)]
    started = [
        workers[n % 2].start("shared", [write_docs(tmp_path / f"upload-{n}", 2)], delete_missing=False, kind="upload")
        for n in range(4)
    ]
    other = managers(indexing).start("elsewhere", [write_docs(tmp_path / "other", 1)], delete_missing=False)

    results = [ended(workers[0], s.id) for s in started]
    assert [r.state for r in results] == ["succeeded"] * 4, [r.message for r in results]  # none met the lock
    spans = [(r.started_at or 0, r.finished_at or 0) for r in results]
    assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:], strict=False)), spans  # one after another
    assert ended(workers[1], other.id).state == "succeeded"


def test_a_job_whose_worker_died_is_failed_and_does_not_block_the_next(
    tmp_path: Path, bundled_embedder: Any, managers: Callable[..., JobManager]
) -> None:
    indexing = indexing_over(tmp_path / "data", bundled_embedder)
    dead = JobStore(job_db_path(indexing.jobs.data_dir))  # what a killed worker left: rows nobody beats
    running = JobStatus(id=uuid.uuid4().hex, kb="shared", kind="upload", state="running", started_at=time.time())
    queued = JobStatus(id=uuid.uuid4().hex, kb="shared", kind="upload")
    dead.add(running, owner="gone")
    dead.add(queued, owner="gone")
    dead.close()

    worker = managers(indexing, orphan_after_s=1.0, heartbeat_s=0.2)
    assert worker.list({"shared"}) == [running, queued]  # not yet taken for dead
    after = worker.start("shared", [write_docs(tmp_path / "docs", 2)], delete_missing=False, kind="upload")

    result = ended(worker, after.id)
    assert result.state == "succeeded"
    orphans = worker.list({"shared"})[:2]
    assert [(o.id, o.state, o.message) for o in orphans] == [
        (running.id, "failed", RUNNING_ORPHAN),
        (queued.id, "failed", QUEUED_ORPHAN),
    ]
    assert all((o.finished_at or 0) <= (result.started_at or 0) for o in orphans)


def test_a_live_worker_keeps_its_long_jobs_from_being_taken_for_orphans(
    tmp_path: Path, bundled_embedder: Any, managers: Callable[..., JobManager]
) -> None:
    embedder = GatedEmbedder(bundled_embedder)
    indexing = indexing_over(tmp_path / "data", embedder)
    first = managers(indexing, orphan_after_s=1.0, heartbeat_s=0.2)
    second = managers(indexing, orphan_after_s=1.0, heartbeat_s=0.2)
    long = first.start("shared", [write_docs(tmp_path / "a", 1)], delete_missing=False, kind="upload")
    behind = second.start("shared", [write_docs(tmp_path / "b", 1)], delete_missing=False, kind="upload")
    wait_until(lambda: second.get(long.id), lambda s: s.state == "running")

    time.sleep(2.5)  # well past orphan_after_s: only the heartbeats keep both alive
    assert [j.state for j in first.list({"shared"})] == ["running", "queued"]
    embedder.gate.release(2)
    assert [ended(first, j.id).state for j in (long, behind)] == ["succeeded", "succeeded"]


def test_a_closed_worker_fails_the_jobs_it_had_not_started(
    tmp_path: Path, bundled_embedder: Any, managers: Callable[..., JobManager]
) -> None:
    embedder = GatedEmbedder(bundled_embedder)
    indexing = indexing_over(tmp_path / "data", embedder)
    worker, other = managers(indexing), managers(indexing)
    running = worker.start("shared", [write_docs(tmp_path / "a", 1)], delete_missing=False, kind="upload")
    waiting = worker.start("shared", [write_docs(tmp_path / "b", 1)], delete_missing=False, kind="upload")
    wait_until(lambda: other.get(running.id), lambda s: s.state == "running")

    worker.close()
    stopped = other.get(waiting.id)
    assert stopped is not None and (stopped.state, stopped.message) == ("failed", STOPPED_BEFORE_RUN)
    embedder.gate.release()
    assert ended(other, running.id).state == "succeeded"  # a running job goes on to its end


def test_a_job_refused_by_a_lock_held_outside_the_api_fails_with_its_message(
    tmp_path: Path, bundled_embedder: Any, managers: Callable[..., JobManager]
) -> None:
    indexing = indexing_over(tmp_path / "data", bundled_embedder)
    worker = managers(indexing)
    with KbLock(KbFiles(indexing.jobs.data_dir, "shared").lock, "shared", job="reindex"):  # the CLI's
        refused = ended(worker, worker.start("shared", [write_docs(tmp_path / "a", 1)], delete_missing=True).id)
    assert refused.state == "failed" and "is busy" in (refused.message or "")
    assert ended(worker, worker.start("shared", [tmp_path / "a"], delete_missing=True).id).state == "succeeded"


def test_pruning_keeps_the_newest_jobs_whichever_worker_ran_them(
    tmp_path: Path, bundled_embedder: Any, managers: Callable[..., JobManager]
) -> None:
    indexing = indexing_over(tmp_path / "data", bundled_embedder)
    workers = [managers(indexing, keep=3), managers(indexing, keep=3)]
    empty = tmp_path / "empty"
    empty.mkdir()
    ids = []
    for n in range(6):
        job_id = workers[n % 2].start(f"kb{n % 3}", [empty], delete_missing=False, kind="upload").id
        ended(workers[0], job_id)
        ids.append(job_id)
    assert [j.id for j in workers[1].list()] == ids[-3:]
    assert workers[0].get(ids[0]) is None and workers[1].last_for("kb0") == workers[0].get(ids[3])


def test_progress_is_saved_at_most_every_half_second_and_at_once_when_the_files_are_counted() -> None:
    saved: list[int] = []
    status = JobStatus("job", "kb", "reindex")
    listener = _Listener(status, lambda s: saved.append(s.files_done))
    listener.files_found(2000)
    for n in range(2000):
        listener.file_done(FileOutcome(f"/docs/{n}.md", "indexed", chunks=1))
    assert saved == [0] and status.files_done == 2000
    time.sleep(PROGRESS_EVERY_S)
    listener.chunks_embedded(5)
    assert saved == [0, 2000]
