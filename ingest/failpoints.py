"""Named crash points for testing crash safety: ``RAG_FAILPOINT=name[:n]`` kills the process (SIGKILL)
the n-th time (default first) execution reaches ``failpoint(name)``. Unset, it costs one dict lookup."""

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
    if _hits[name] >= int(count or 1):
        os.kill(os.getpid(), signal.SIGKILL)
