"""Shared helpers of the broker tests: a sandbox on 127.0.0.1 and a client pointed at it."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from arduino_trader.adapters.sandbox.market import EUR_RATES
from arduino_trader.adapters.sandbox.server import (
    DEMO_PRIVATE_KEY,
    DEMO_PUBLIC_KEY,
    Sandbox,
    SandboxThread,
)
from arduino_trader.adapters.store import market_repo, securities_repo
from arduino_trader.adapters.store.price_history_repo import SqlitePriceHistory
from arduino_trader.adapters.store.sqlite import SqliteStore
from arduino_trader.adapters.tradernet.client import TradernetClient
from arduino_trader.adapters.tradernet.client_config import ClientConfig
from arduino_trader.daemon.io_loop import IoLoop
from arduino_trader.protocols.market_data import FxRate, PriceBar


@contextmanager
def running_sandbox(state: Path | None = None, seed: int = 7, **kw: Any) -> Iterator[SandboxThread]:
    """A sandbox server on an ephemeral loopback port, on its own loop thread."""
    thread = SandboxThread(Sandbox.create(state, seed, **kw)).start()
    try:
        yield thread
    finally:
        thread.stop()


def make_client(url: str, *, public: str = DEMO_PUBLIC_KEY, private: str = DEMO_PRIVATE_KEY,
                orders: bool = True, wall_time: Callable[[], float] = time.time,
                monotonic: Callable[[], float] = time.monotonic,
                **overrides: Any) -> TradernetClient:
    """A client with test-friendly timings (no rate limiting delays, fast backoff);
    ``wall_time`` is what it signs with (a test clock's, for a sandbox on that clock),
    ``monotonic`` what its rate limiter and circuit breaker count time with."""
    values: dict[str, Any] = {
        "timeout_s": 2.0, "order_timeout_s": 2.0, "read_retries": 2, "backoff_base_s": 0.01,
        "requests_per_minute": 60_000, "burst": 1000, "breaker_failures": 5,
        "breaker_cooldown_s": 0.5, "lookup_delay_s": 0.01, "lookup_attempts": 3,
    }
    values.update(overrides)
    config = ClientConfig(base_url=url, public_key=public, private_key=private, **values)
    return TradernetClient(config, orders_allowed=lambda: orders, wall_time=wall_time,
                           monotonic=monotonic)


def seed_from_sandbox(io: IoLoop, store: SqliteStore, client: TradernetClient,
                      securities: Sequence[tuple[str, str, str, str]], at: datetime) -> None:
    """Store each ``(isin, symbol, currency, mic)`` with 360 days of history around the
    sandbox's quote, and the sandbox's USD and HKD rates (as EUR per unit), as of ``at``."""
    for isin, symbol, currency, mic in securities:
        securities_repo.insert_security(store, {
            "isin": isin, "symbol": symbol, "name": symbol, "currency": currency,
            "mic": mic}, at)
        (quote,) = io.run(client.quotes((symbol,)), 10)
        price = float(quote.bid or quote.last or 1)
        bars = [PriceBar(date(2025, 3, 10) + timedelta(days=i), price * (1 + (i % 5) / 100),
                         high=price * 1.3) for i in range(360)]
        SqlitePriceHistory(store).write_history({isin: (bars, [])}, "test", at)
    market_repo.write_fx(store, [
        FxRate(ccy, Decimal(1) / EUR_RATES[ccy], at.date(), at, "test")
        for ccy in ("USD", "HKD")], at)
