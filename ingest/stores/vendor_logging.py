"""Bring a vendor library's own log handlers into the application's logging, with repeats limited.

pymilvus installs plain-text stderr handlers on its loggers (``propagate=False``) when imported,
so its lines bypass the application's JSON formatting and secret scrubbing; and while a Milvus
server is down its connection manager logs a failed reconnect, with a traceback, every few
milliseconds (thousands of lines a minute). ``adopt`` replaces such handlers with one that hands
records to the root logger's handlers, letting each call site through at most once per
window and saying how many were held back.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

REPEAT_WINDOW_S = 30.0


class RepeatLimiter(logging.Filter):
    """Lets each call site (logger, file, line) through once per ``window_s``; counts what it holds
    back. Keyed by where the record was made, not its text, because vendors format their messages
    (ports, timestamps) before logging them."""

    def __init__(self, window_s: float = REPEAT_WINDOW_S, *, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.window_s = window_s
        self._clock = clock
        self._lock = threading.Lock()
        self._seen: dict[tuple[str, str, int], tuple[float, int]] = {}  # key -> (last let through, held back since)

    def filter(self, record: logging.LogRecord) -> bool:
        key = (record.name, record.pathname, record.lineno)
        now = self._clock()
        with self._lock:
            last, held = self._seen.get(key, (float("-inf"), 0))
            if now - last < self.window_s:
                self._seen[key] = (last, held + 1)
                return False
            self._seen[key] = (now, 0)
        if held:
            record.msg = f"{record.msg} ({held} more like it in the last {self.window_s:.0f} s held back)"
        return True


class _ToRoot(logging.Handler):
    """Hands records to the root logger's handlers, as propagation would have."""

    def emit(self, record: logging.LogRecord) -> None:
        for handler in logging.getLogger().handlers:
            if record.levelno >= handler.level:
                handler.handle(record)


_adopted: set[str] = set()
_adopt_lock = threading.Lock()


def adopt(name: str, *, window_s: float = REPEAT_WINDOW_S) -> None:
    """Route logger ``name`` (and its children) through the root handlers, repeats limited (idempotent)."""
    with _adopt_lock:
        if name in _adopted:
            return
        prefix = name + "."
        for other, logger in list(logging.Logger.manager.loggerDict.items()):
            if isinstance(logger, logging.Logger) and other.startswith(prefix) and not logger.propagate:
                logger.handlers.clear()
                logger.propagate = True  # up to ``name``, whose one handler forwards them
        target = logging.getLogger(name)
        target.handlers.clear()
        handler = _ToRoot()
        handler.addFilter(RepeatLimiter(window_s))
        target.addHandler(handler)
        target.propagate = False
        _adopted.add(name)
