"""A circuit breaker per LLM profile, so a dead endpoint costs one request, not every request.

Without it, every question tried a down primary again, paying its retries and back-off (seconds)
before the fallback answered. The breaker remembers:

* **closed**: requests go through; ``threshold`` failures in a row open it;
* **open**: requests skip the profile at once (the next profile answers) until the cool-down
  ends; a ``Retry-After`` longer than the cool-down is honoured instead;
* **half-open**: after the cool-down one request probes the profile while the others keep
  skipping it; success closes the breaker, failure opens it again for twice the cool-down
  (up to ``max_cooldown_s``).

What counts as a failure is decided by the client (an endpoint that is down, times out, rate
limits or sends garbage; not a request it rejected). State is per process, like the rate limits.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

State = Literal["closed", "open", "half_open"]
STATE_VALUES: dict[State, int] = {"closed": 0, "half_open": 1, "open": 2}


@dataclass(frozen=True, slots=True)
class BreakerPolicy:
    threshold: int = 3  # consecutive failures that open the breaker; 0 turns it off
    cooldown_s: float = 30.0
    max_cooldown_s: float = 300.0


class CircuitBreaker:
    """Thread-safe; ``allow`` before a request, then exactly one of ``succeeded``, ``failed`` or ``abandoned``."""

    def __init__(self, name: str, policy: BreakerPolicy, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.name = name
        self.policy = policy
        self._clock = clock
        self._lock = threading.Lock()
        self._state: State = "closed"
        self._failures = 0
        self._cooldown = policy.cooldown_s
        self._open_until = 0.0
        self._probing = False
        self.opened_total = 0

    @property
    def state(self) -> State:
        with self._lock:
            return self._current_state()

    def _current_state(self) -> State:
        if self._state == "open" and self._clock() >= self._open_until:
            return "half_open"
        return self._state

    def allow(self) -> bool:
        """May a request go to this profile now? In half-open state only one probe at a time may."""
        if self.policy.threshold <= 0:
            return True
        with self._lock:
            state = self._current_state()
            if state == "closed":
                return True
            if state == "half_open" and not self._probing:
                self._state, self._probing = "half_open", True
                return True
            return False

    def retry_in(self) -> float:
        """Seconds until the next probe may go (0 when requests go through now)."""
        with self._lock:
            if self._current_state() != "open":
                return 0.0
            return max(0.0, self._open_until - self._clock())

    def succeeded(self) -> None:
        with self._lock:
            self._state, self._failures, self._probing = "closed", 0, False
            self._cooldown = self.policy.cooldown_s

    def failed(self, retry_after: float | None = None) -> None:
        """One failure; ``retry_after`` is the wait an endpoint named (a 429's ``Retry-After``)."""
        if self.policy.threshold <= 0:
            return
        with self._lock:
            was_probe, self._probing = self._probing, False
            self._failures += 1
            if was_probe:
                self._cooldown = min(self._cooldown * 2, self.policy.max_cooldown_s)
            long_wait = retry_after is not None and retry_after >= self.policy.cooldown_s
            if was_probe or long_wait or self._failures >= self.policy.threshold:
                self._open(max(self._cooldown, retry_after or 0.0))

    def abandoned(self) -> None:
        """The request ended without a verdict (the caller went away): let another probe go."""
        with self._lock:
            self._probing = False

    def _open(self, seconds: float) -> None:
        if self._state != "open":
            self.opened_total += 1
        self._state = "open"
        self._open_until = self._clock() + seconds

    def describe(self) -> dict[str, object]:
        with self._lock:
            state = self._current_state()
            retry_in = max(0.0, self._open_until - self._clock()) if state == "open" else 0.0
            return {
                "state": state,
                "consecutive_failures": self._failures,
                "retry_in_s": round(retry_in, 1),
                "opened_total": self.opened_total,
            }
