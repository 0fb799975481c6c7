"""Per-key limits: requests per minute (token bucket) and answers in flight (a counter).

State is in process memory: with several API replicas each enforces its own share, which is
the usual trade-off for a limiter whose job is to stop one runaway client, not to bill.
Both limits answer 429 with ``Retry-After``: for the request rate, when the bucket holds a token
again; for answers in flight, when the caller's oldest answer is expected to end, from a running
mean of how long answers have taken in this process (R1 answers take tens of seconds, so a
constant "1" would only invite a retry storm).
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from rag.errors import TooManyRequests
from rag.settings import RateLimitSettings

MAX_STREAM_RETRY_AFTER_S = 300
ANSWER_MEAN_WEIGHT = 0.2  # weight of the newest duration in the running mean


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated: float


class StreamSlot:
    """One answer in flight; ``release`` is idempotent so every exit path may call it."""

    def __init__(self, on_release: Callable[[], None]) -> None:
        self._on_release: Callable[[], None] | None = on_release

    def release(self) -> None:
        callback, self._on_release = self._on_release, None
        if callback is not None:
            callback()


class RateLimiter:
    """Token buckets and in-flight counters keyed by caller (``Principal.rate_key``)."""

    def __init__(self, settings: RateLimitSettings, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.settings = settings
        self._clock = clock
        self._lock = threading.Lock()
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()
        self._in_flight: dict[str, list[float]] = {}  # caller -> start times of its answers in flight
        self._typical_s = settings.typical_answer_s  # running mean of answer durations (a prior until measured)

    def hit(self, key: str, per_minute: int | None = None) -> None:
        """Take one request from ``key``'s bucket or raise ``TooManyRequests``."""
        if not self.settings.enabled:
            return
        rate = per_minute or self.settings.requests_per_minute
        per_second = rate / 60.0
        now = self._clock()
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket is None:
                bucket = _Bucket(tokens=float(rate), updated=now)
                self._buckets[key] = bucket
                while len(self._buckets) > self.settings.max_tracked_callers:
                    self._buckets.popitem(last=False)
            else:
                self._buckets.move_to_end(key)
                bucket.tokens = min(float(rate), bucket.tokens + (now - bucket.updated) * per_second)
                bucket.updated = now
            if bucket.tokens >= 1.0:
                bucket.tokens -= 1.0
                return
            wait = (1.0 - bucket.tokens) / per_second
        raise TooManyRequests(f"rate limit of {rate} requests per minute exceeded", max(1, math.ceil(wait)), "requests")

    def acquire_stream(self, key: str, limit: int | None = None) -> StreamSlot:
        """Count one more answer in flight for ``key`` or raise ``TooManyRequests``."""
        if not self.settings.enabled:
            return StreamSlot(lambda: None)
        allowed = limit or self.settings.concurrent_streams
        now = self._clock()
        with self._lock:
            started = self._in_flight.setdefault(key, [])
            if len(started) >= allowed:
                wait = self._typical_s - (now - min(started))
                raise TooManyRequests(
                    f"{allowed} answers are already in progress for this key; wait for one to finish",
                    min(max(1, math.ceil(wait)), MAX_STREAM_RETRY_AFTER_S),
                    "streams",
                )
            started.append(now)

        def release() -> None:
            with self._lock:
                ended = self._clock()
                running = self._in_flight.get(key, [])
                if now in running:
                    running.remove(now)
                if not running:
                    self._in_flight.pop(key, None)
                self._typical_s += ANSWER_MEAN_WEIGHT * ((ended - now) - self._typical_s)

        return StreamSlot(release)

    def in_flight(self, key: str) -> int:
        with self._lock:
            return len(self._in_flight.get(key, []))

    @property
    def typical_answer_s(self) -> float:
        """The running mean of answer durations that ``Retry-After`` is computed from."""
        with self._lock:
            return self._typical_s
