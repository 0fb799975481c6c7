"""TTL cache expiry and eviction; token-bucket pacing and refusal."""

from __future__ import annotations

import asyncio
import time

import pytest

from search_proxy.cache import TTLCache
from search_proxy.ratelimit import TokenBucket
from tests.fakes.clock import Clock

pytestmark = pytest.mark.unit


def test_entries_expire_after_ttl() -> None:
    clock = Clock()
    cache: TTLCache[str] = TTLCache(ttl_s=10, max_entries=10, clock=clock)
    cache.put("q", "answer")
    clock.now += 9.9
    assert cache.get("q") == "answer"
    clock.now += 0.2
    assert cache.get("q") is None and len(cache) == 0


def test_least_recently_used_is_evicted() -> None:
    cache: TTLCache[int] = TTLCache(ttl_s=60, max_entries=2, clock=Clock())
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1  # touch a, so b is now the oldest
    cache.put("c", 3)
    assert (cache.get("a"), cache.get("b"), cache.get("c")) == (1, None, 3)


def test_zero_ttl_disables_storage() -> None:
    cache: TTLCache[int] = TTLCache(ttl_s=0, max_entries=2)
    cache.put("a", 1)
    assert cache.get("a") is None


async def test_bucket_allows_burst_then_paces() -> None:
    bucket = TokenBucket(rate=20, burst=2)
    started = time.monotonic()
    assert await bucket.acquire(max_wait=1) and await bucket.acquire(max_wait=1)
    assert time.monotonic() - started < 0.04
    assert await bucket.acquire(max_wait=1)  # waits about 1/20 s for the next token
    assert 0.04 <= time.monotonic() - started < 0.5


async def test_bucket_refuses_when_the_wait_is_too_long() -> None:
    bucket = TokenBucket(rate=1, burst=1)
    assert await bucket.acquire(max_wait=0)
    started = time.monotonic()
    assert not await bucket.acquire(max_wait=0.1)
    assert time.monotonic() - started < 0.05  # refused at once, not after waiting


def test_bucket_rejects_nonsense() -> None:
    with pytest.raises(ValueError):
        TokenBucket(rate=0, burst=1)


async def test_concurrent_waiters_are_spaced_and_the_queue_is_bounded() -> None:
    bucket = TokenBucket(rate=20, burst=1)
    started = time.monotonic()
    done: list[float] = []

    async def take() -> bool:
        ok = await bucket.acquire(max_wait=0.12)
        done.append(time.monotonic() - started)
        return ok

    results = await asyncio.gather(*(take() for _ in range(4)))
    # Tokens at 0, 0.05 and 0.10 s; the fourth would wait 0.15 s > 0.12 s and is refused at once.
    assert results == [True, True, True, False]
    assert sorted(done)[-1] < 0.2 and max(done) >= 0.09
