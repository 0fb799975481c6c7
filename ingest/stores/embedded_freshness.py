"""How an embedded store in one process sees what other processes wrote.

Embedded Chroma loads a collection's HNSW index into the process once and never reads it from
disk again (checked on 1.5.9): after ``rag ingest`` in another process, or a job in another
``rag serve`` worker, a server kept answering from the index it had, so new chunks were never
found and deleted ones came back with no text. Counts and metadata, read from SQLite, were
current, which hid it. Only a new client (a new Chroma "system") reads the index again.

So every write leaves a stamp, one small file per knowledge base, replaced atomically with a
fresh token; before each call a reader compares the stamp with the last one it saw (one
``stat``), and a change it did not make means "open the client again". Writes to one knowledge
base are serialised by its job lock, so no write can slip between a writer's check and its stamp.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

# Seen as (inode, mtime, size): ``os.replace`` gives every stamp a new inode, so a change is seen
# even where two writes fall in one mtime tick.
_StatKey = tuple[int, int, int]


class WriteStamps:
    """Per-knowledge-base write stamps under ``root``; what this process last saw or wrote."""

    def __init__(self, root: Path) -> None:
        self._root = root
        self._owner = uuid.uuid4().hex
        self._counter = 0
        self._seen: dict[str, _StatKey | None] = {}
        self._lock = threading.Lock()

    def _path(self, name: str) -> Path:
        return self._root / name

    @staticmethod
    def _key(path: Path) -> _StatKey | None:
        try:
            stat = path.stat()
        except FileNotFoundError:
            return None
        return (stat.st_ino, stat.st_mtime_ns, stat.st_size)

    def changed_elsewhere(self, name: str) -> bool:
        """Whether another process wrote ``name`` since this one last looked (the first look only
        records: a client opened after that stamp reads the index as it now is)."""
        key = self._key(self._path(name))
        with self._lock:
            if name not in self._seen:
                self._seen[name] = key
                return False
            return self._seen[name] != key

    def reset(self) -> None:
        """Forget what was seen: the client was opened again, so everything on disk is current."""
        with self._lock:
            self._seen.clear()

    def stamp(self, name: str) -> None:
        """Record a write by this process, so other processes open their clients again.

        A change by another process that this one has not yet caught up with stays pending: the
        new stamp is taken as seen only where the old one was."""
        path = self._path(name)
        with self._lock:
            self._counter += 1
            token = f"{self._owner}:{self._counter}:{time.time_ns()}"
            self._root.mkdir(parents=True, exist_ok=True)
            caught_up = name not in self._seen or self._seen[name] == self._key(path)
            temporary = path.with_name(f".{path.name}.{self._owner}.tmp")
            temporary.write_text(token)
            os.replace(temporary, path)
            if caught_up:
                self._seen[name] = self._key(path)


class ReopenGate:
    """Calls share the client; reopening it waits for them and holds new ones back until done.

    A reopen closes the old client, and a handle of a closed client fails, so no call may be
    running across it.
    """

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._active = 0
        self._reopening = False
        self._depth = threading.local()

    def in_call(self) -> bool:
        """Whether this thread is inside ``call`` (a call made by another call: no reopen there)."""
        return bool(getattr(self._depth, "value", 0))

    @contextmanager
    def call(self) -> Iterator[None]:
        nested = self.in_call()
        if not nested:
            with self._condition:
                while self._reopening:
                    self._condition.wait()
                self._active += 1
        self._depth.value = getattr(self._depth, "value", 0) + 1
        try:
            yield
        finally:
            self._depth.value -= 1
            if not nested:
                with self._condition:
                    self._active -= 1
                    if self._active == 0:
                        self._condition.notify_all()

    @contextmanager
    def reopening(self) -> Iterator[None]:
        """Exclusive; never entered from inside ``call`` (it would wait for itself)."""
        with self._condition:
            while self._reopening:
                self._condition.wait()
            self._reopening = True
            while self._active:
                self._condition.wait()
        try:
            yield
        finally:
            with self._condition:
                self._reopening = False
                self._condition.notify_all()
