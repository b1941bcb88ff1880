"""Client-side rate limiting and a circuit breaker, driven by an injectable monotonic clock."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

Monotonic = Callable[[], float]


class RateLimiter:
    """Token bucket: ``per_minute`` requests on average, bursts of up to ``burst``."""

    def __init__(self, per_minute: float, burst: int, monotonic: Monotonic) -> None:
        if per_minute <= 0 or burst < 1:
            raise ValueError("rate limit needs per_minute > 0 and burst >= 1")
        self.rate = per_minute / 60.0
        self.burst = float(burst)
        self._tokens = float(burst)
        self._mono = monotonic
        self._last = monotonic()
        self._lock = asyncio.Lock()

    def _refill(self) -> None:
        now = self._mono()
        self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
        self._last = now

    async def acquire(self) -> float:
        """Wait for a token; returns the seconds waited."""
        waited = 0.0
        async with self._lock:
            self._refill()
            while self._tokens < 1.0:
                delay = (1.0 - self._tokens) / self.rate
                await asyncio.sleep(delay)
                waited += delay
                self._refill()
            self._tokens -= 1.0
        return waited


@dataclass
class BreakerState:
    """What the breaker reports: ``closed``, ``open`` or ``half_open``."""

    state: str
    consecutive_failures: int
    last_error: str
    retry_in_s: float


class CircuitBreaker:
    """Opens after ``threshold`` consecutive failures; after ``cooldown_s`` one trial passes."""

    def __init__(self, threshold: int, cooldown_s: float, monotonic: Monotonic) -> None:
        self.threshold = max(1, threshold)
        self.cooldown_s = cooldown_s
        self._mono = monotonic
        self._failures = 0
        self._opened_at: float | None = None
        self._trial = False
        self.last_error = ""

    def allow(self) -> bool:
        """True when a call may go out now (closed, or the half-open trial)."""
        if self._opened_at is None:
            return True
        if self._mono() - self._opened_at >= self.cooldown_s and not self._trial:
            self._trial = True
            return True
        return False

    def success(self) -> None:
        """A call got a readable answer: close."""
        self._failures = 0
        self._opened_at = None
        self._trial = False
        self.last_error = ""

    def failure(self, error: str) -> None:
        """A call failed in transit (not a broker refusal): count towards opening."""
        self._failures += 1
        self.last_error = error
        if self._trial or self._failures >= self.threshold:
            self._opened_at = self._mono()
        self._trial = False

    def snapshot(self) -> BreakerState:
        """The current state for health reports."""
        if self._opened_at is None:
            return BreakerState("closed", self._failures, self.last_error, 0.0)
        remaining = self.cooldown_s - (self._mono() - self._opened_at)
        state = "half_open" if remaining <= 0 else "open"
        return BreakerState(state, self._failures, self.last_error, max(0.0, remaining))
