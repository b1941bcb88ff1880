"""Rate limiter, circuit breaker and retry backoff of the Tradernet client."""

from __future__ import annotations

import asyncio
import random

import pytest

from arduino_trader.adapters.tradernet.resilience import CircuitBreaker, RateLimiter
from arduino_trader.protocols.broker_errors import BrokerRateLimited, BrokerUnavailable
from tests.broker_support import make_client


class Mono:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def test_breaker_opens_after_threshold_and_allows_one_trial() -> None:
    mono = Mono()
    breaker = CircuitBreaker(3, 10.0, mono)
    for _ in range(2):
        breaker.failure("boom")
    assert breaker.allow() and breaker.snapshot().state == "closed"
    breaker.failure("boom")
    assert not breaker.allow() and breaker.snapshot().state == "open"
    mono.t = 9.9
    assert not breaker.allow()
    mono.t = 10.0
    assert breaker.allow()           # the one half-open trial
    assert not breaker.allow()       # nobody else meanwhile
    breaker.failure("still down")    # trial failed: open again for a full cooldown
    assert breaker.snapshot().state == "open" and not breaker.allow()
    mono.t = 20.0
    assert breaker.allow()
    breaker.success()
    assert breaker.snapshot().state == "closed" and breaker.allow()


def test_success_resets_the_count() -> None:
    breaker = CircuitBreaker(2, 1.0, Mono())
    breaker.failure("a")
    breaker.success()
    breaker.failure("b")
    assert breaker.allow()


async def test_rate_limiter_spaces_requests() -> None:
    loop = asyncio.get_running_loop()
    limiter = RateLimiter(per_minute=600, burst=2, monotonic=loop.time)  # 10/s
    start = loop.time()
    waits = [await limiter.acquire() for _ in range(5)]
    elapsed = loop.time() - start
    assert waits[0] == 0 and waits[1] == 0
    assert 0.25 <= elapsed < 1.0  # 3 tokens after the burst at 10/s


def test_rate_limiter_rejects_nonsense() -> None:
    with pytest.raises(ValueError):
        RateLimiter(0, 1, Mono())
    with pytest.raises(ValueError):
        RateLimiter(10, 0, Mono())


def test_backoff_is_jittered_bounded_and_honours_retry_after() -> None:
    client = make_client("http://127.0.0.1:9", backoff_base_s=1.0, backoff_max_s=8.0)
    client._rng = random.Random(1)
    err = BrokerUnavailable("x")
    for attempt in range(6):
        ceiling = min(8.0, 2 ** attempt)
        delays = {client._backoff(attempt, err) for _ in range(20)}
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
        assert len(delays) > 1
    assert client._backoff(0, BrokerRateLimited("x", retry_after_s=5)) == 5
    assert client._backoff(0, BrokerRateLimited("x", retry_after_s=500)) == 8.0
