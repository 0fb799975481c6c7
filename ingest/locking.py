"""One job per knowledge base: an advisory file lock that dies with its holder (kill -9 included)."""

from __future__ import annotations

import fcntl
import json
import os
import socket
import time
from pathlib import Path
from typing import IO

from ingest.errors import JobLocked


class KbLock:
    """``with KbLock(path, kb):`` holds the lock or raises ``JobLocked`` at once.

    ``flock`` locks are released by the kernel when the holder exits, however it exits, so a
    crashed job never leaves a stale lock behind. The holder's pid, host and start time are
    written into the file for the message another job shows.
    """

    def __init__(self, path: str | Path, kb: str, job: str = "reindex") -> None:
        self.path = Path(path)
        self.kb = kb
        self.job = job
        self._file: IO[str] | None = None

    def __enter__(self) -> KbLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(self.path, "a+", encoding="utf-8")  # noqa: SIM115 - held for the lock's lifetime
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip()
            handle.close()
            raise JobLocked(f"knowledge base {self.kb!r} is busy: {_describe(holder)}") from None
        handle.seek(0)
        handle.truncate()
        info = {"pid": os.getpid(), "host": socket.gethostname(), "job": self.job, "started": time.time()}
        handle.write(json.dumps(info))
        handle.flush()
        self._file = handle
        return self

    def __exit__(self, *exc: object) -> None:
        if self._file is not None:
            self._file.seek(0)
            self._file.truncate()
            fcntl.flock(self._file.fileno(), fcntl.LOCK_UN)
            self._file.close()
            self._file = None


def _describe(holder: str) -> str:
    try:
        info = json.loads(holder)
    except ValueError:
        return "another job holds its lock"
    started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(float(info.get("started", 0))))
    who = f"pid {info.get('pid')} on {info.get('host')}, started {started}"
    kind = str(info.get("job", "indexing"))
    article = "an" if kind[:1].lower() in "aeiou" else "a"
    return f"{article} {kind} job ({who}) holds its lock"
