"""Named crash points for testing crash safety: ``RAG_FAILPOINT=name[:n]`` kills the process (SIGKILL)
the n-th time (default first) execution reaches ``failpoint(name)``. Unset, it costs one dict lookup.

``RAG_FAILPOINT_ONCE=<file>`` makes it fire once across processes: the first to fire creates the
file, and none fires while it exists (a restarted worker must not crash again on the retried call).
"""

from __future__ import annotations

import os
import signal

_hits: dict[str, int] = {}


def failpoint(name: str) -> None:
    spec = os.environ.get("RAG_FAILPOINT")
    if not spec:
        return
    target, _, count = spec.partition(":")
    if target != name:
        return
    _hits[name] = _hits.get(name, 0) + 1
    if _hits[name] >= int(count or 1) and _first_to_fire():
        os.kill(os.getpid(), signal.SIGKILL)


def _first_to_fire() -> bool:
    marker = os.environ.get("RAG_FAILPOINT_ONCE")
    if not marker:
        return True
    try:
        os.close(os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    except FileExistsError:
        return False
    return True
