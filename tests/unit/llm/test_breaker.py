"""The circuit breaker's states on a clock the test turns."""

from __future__ import annotations

import pytest

from rag.llm.breaker import BreakerPolicy, CircuitBreaker
from tests.fakes.clock import Clock

pytestmark = pytest.mark.unit


def breaker(threshold: int = 3, cooldown: float = 10.0, max_cooldown: float = 35.0) -> tuple[CircuitBreaker, Clock]:
    clock = Clock()
    return CircuitBreaker("primary", BreakerPolicy(threshold, cooldown, max_cooldown), clock=clock), clock


def test_opens_after_consecutive_failures_only() -> None:
    b, _ = breaker()
    for _ in range(2):
        assert b.allow()
        b.failed()
    assert b.allow()
    b.succeeded()  # a success in between starts the count again
    for _ in range(2):
        b.failed()
    assert b.state == "closed" and b.allow()
    b.failed()
    assert b.state == "open" and not b.allow()
    assert b.describe() == {"state": "open", "consecutive_failures": 3, "retry_in_s": 10.0, "opened_total": 1}


def test_one_probe_after_the_cooldown_and_its_verdict() -> None:
    b, clock = breaker()
    for _ in range(3):
        b.failed()
    clock.now += 9.9
    assert not b.allow() and 0 < b.retry_in() <= 0.1
    clock.now += 0.2
    assert b.state == "half_open"
    assert b.allow(), "the first request after the cool-down probes"
    assert not b.allow(), "only one probe at a time"
    b.failed()  # the probe failed: open again, for twice as long
    assert b.state == "open" and b.retry_in() == pytest.approx(20.0)
    clock.now += 20.1
    assert b.allow()
    b.failed()
    assert b.retry_in() == pytest.approx(35.0), "the cool-down doubles up to its maximum"
    clock.now += 35.1
    assert b.allow()
    b.succeeded()
    assert b.state == "closed" and b.allow() and b.allow()
    for _ in range(3):
        b.failed()
    assert b.retry_in() == pytest.approx(10.0), "a success resets the cool-down"
    assert b.describe()["opened_total"] == 4


def test_an_abandoned_probe_lets_another_go() -> None:
    b, clock = breaker(threshold=1)
    b.failed()
    clock.now += 10.1
    assert b.allow() and not b.allow()
    b.abandoned()
    assert b.allow()


def test_a_long_retry_after_opens_at_once_for_that_long() -> None:
    b, _ = breaker(threshold=3, cooldown=10.0)
    b.failed(retry_after=2.0)
    assert b.state == "closed", "a short wait is the retry loop's business"
    b.failed(retry_after=60.0)
    assert b.state == "open" and b.retry_in() == pytest.approx(60.0)


def test_threshold_zero_turns_it_off() -> None:
    b, _ = breaker(threshold=0)
    for _ in range(10):
        b.failed()
    assert b.allow() and b.state == "closed"
