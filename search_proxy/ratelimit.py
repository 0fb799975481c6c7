"""A per-provider token bucket, so bursts of our callers never exceed what an upstream plan allows."""

from __future__ import annotations

import asyncio
import time


class TokenBucket:
    """``rate`` tokens per second up to ``burst``; ``acquire`` waits at most ``max_wait`` seconds.

    Returning False instead of waiting longer lets the chain move on to the next provider rather
    than queueing behind a slow plan. Waiters reserve their token up front (the balance may go
    negative), so nobody sleeps while holding the lock and later callers see the queue ahead.
    """

    def __init__(self, rate: float, burst: int) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be > 0 and burst >= 1")
        self.rate = rate
        self.burst = float(burst)
        self._tokens = float(burst)
        self._updated = time.monotonic()
        self._lock = asyncio.Lock()

    async def acquire(self, max_wait: float) -> bool:
        async with self._lock:
            now = time.monotonic()
            self._tokens = min(self.burst, self._tokens + (now - self._updated) * self.rate)
            self._updated = now
            wait = max(0.0, (1 - self._tokens) / self.rate)
            if wait > max_wait:
                return False
            self._tokens -= 1
        if wait > 0:
            await asyncio.sleep(wait)
        return True
