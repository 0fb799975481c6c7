"""Parse workers die with the job that started them, ``kill -9`` included."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]
BOUND_S = 15.0  # generous for a loaded two-core machine; the workers notice in milliseconds

# Starts a pool of two parse workers, takes one result (so the pool is up), then waits to be killed.
JOB = """
import sys, time
from ingest.parallel import parse_files
results = parse_files(sys.argv[1:], "kb", workers=2)
next(results)
print("parsing", flush=True)
time.sleep(600)
"""


def _children(pid: int) -> dict[int, str]:
    """Live processes whose parent is ``pid``, with their command lines."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[1]) == pid and fields[0] != "Z":
            found[int(entry.name)] = cmdline
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return state[state.rindex(")") + 2] != "Z"  # a zombie has exited; only its parent's reaping is left


def test_sigkill_of_the_job_ends_its_workers_and_the_resource_tracker(tmp_path: Path) -> None:
    files = []
    for i in range(8):
        path = tmp_path / f"note_{i}.md"
        path.write_text(f"# Note {i}\n\nRobots dock at bay {i}.\n")
        files.append(str(path))
    job = subprocess.Popen(
        [sys.executable, "-c", JOB, *files],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        assert job.stdout is not None and job.stdout.readline().strip() == "parsing"
        children = _children(job.pid)
        workers = [pid for pid, cmd in children.items() if "spawn_main" in cmd]
        trackers = [pid for pid, cmd in children.items() if "resource_tracker" in cmd]
        assert len(workers) == 2 and len(trackers) == 1, children
        job.send_signal(signal.SIGKILL)
        job.wait(timeout=10)
        deadline = time.monotonic() + BOUND_S
        while time.monotonic() < deadline and any(_alive(pid) for pid in workers + trackers):
            time.sleep(0.1)
        assert [pid for pid in workers + trackers if _alive(pid)] == []
    finally:
        if job.poll() is None:
            job.kill()


def test_a_file_that_kills_its_parser_process_fails_alone_and_the_rest_parse(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ingest.parallel import parse_files

    paths = []
    for index in range(7):
        name = "poison.md" if index == 2 else f"note{index}.md"
        (tmp_path / name).write_text(f"# Note {index}\n\nShelf {index} holds pallets.\n", encoding="utf-8")
        paths.append(str(tmp_path / name))
    monkeypatch.setenv("RAG_FAILPOINT", "parse poison.md")  # the worker parsing it is SIGKILLed, every time
    results = list(parse_files(paths, "kb", workers=2))
    assert [r.path for r in results] == paths  # in order, each once
    failed = {Path(r.path).name: r.error for r in results if r.document is None}
    assert failed == {"poison.md": "the parser crashed its process on every try"}
