"""Per-call deadlines for ``pymilvus.MilvusClient``, whose calls otherwise wait on a hung server
for as long as its retry loop lasts (a minute and more): an API request would hang with it.

``TimedClient`` passes ``timeout=`` to every method that takes one and has not been given one,
except the operations that legitimately run long (loading a collection, flushing, building an
index), which keep the caller's own bound.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

LONG_RUNNING = frozenset(
    {"load_collection", "flush", "create_index", "create_collection", "release_collection", "compact"}
)


@functools.cache
def _takes_timeout(method: Callable[..., Any]) -> bool:
    try:
        return "timeout" in inspect.signature(method).parameters
    except (TypeError, ValueError):
        return False


class TimedClient:
    """Wraps a ``MilvusClient``; attribute access is passed through, calls get a deadline."""

    def __init__(self, client: Any, timeout_s: float) -> None:
        self._client = client
        self._timeout_s = timeout_s

    @property
    def raw(self) -> Any:
        return self._client

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._client, name)
        if name in LONG_RUNNING or not callable(attribute):
            return attribute
        function = getattr(type(self._client), name, None)
        if function is None or not _takes_timeout(function):
            return attribute

        @functools.wraps(attribute)
        def timed(*args: Any, **kwargs: Any) -> Any:
            kwargs.setdefault("timeout", self._timeout_s)
            return attribute(*args, **kwargs)

        return timed
