"""The market-data actor's memory of the last stored history answers (``KnownHistories``)
changes nothing the store ends up with: after any sequence of source answers (new days,
revisions, bad closes) and of writes and deletions by another connection, a top-up that
keeps the memory stores exactly what a top-up without it (a fresh memory each time)
stores."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import structlog
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from arduino_trader.actors.base import ActorContext
from arduino_trader.actors.market_data_history import KnownHistories, sync_histories
from arduino_trader.adapters.clock import ManualClock
from arduino_trader.adapters.store import securities_repo
from arduino_trader.adapters.store.price_history_repo import SqlitePriceHistory
from arduino_trader.adapters.store.sqlite import SqliteStore
from arduino_trader.config.settings import env_name, load_settings
from arduino_trader.daemon.io_loop import IoLoop
from arduino_trader.protocols.market_data import PriceBar, PriceHistory
from tests.wiring import wired

START = datetime(2024, 1, 3, 21, tzinfo=UTC)
ISIN, SYMBOL = "US0378331005", "AAPL"
SETTINGS = load_settings(None, environ={env_name("market_data.history_seed_years"): "1"})
# a seed longer than a top-up: the memory keeps only the days a top-up re-reads
LONG_SEED = load_settings(None, environ={env_name("market_data.history_seed_years"): "3"})


class Source:
    """A scripted source: a close per day, revised by the test."""

    name = "fake"

    def __init__(self) -> None:
        self.revised: dict[date, float] = {}

    def reference_time(self, now: datetime) -> datetime:
        return now

    def history(self, symbol: str, start: date, end: date) -> PriceHistory:
        days = [start + timedelta(days=i) for i in range((end - start).days + 1)]
        bars = tuple(PriceBar(d, self.revised.get(d, 100.0 + d.toordinal() % 7))
                     for d in days if d.weekday() < 5)
        return PriceHistory(symbol, "USD", bars, START, self.name)


class Side:
    """One database, its second connection, and the memory a top-up keeps (or not)."""

    def __init__(self, path: Path, io: IoLoop, clock: ManualClock,
                 config: Any = SETTINGS) -> None:
        self.store = SqliteStore(path, busy_timeout_ms=200)
        self.store.open()
        self.other = SqliteStore(path, busy_timeout_ms=200)
        self.other.open()
        securities_repo.insert_securities(self.store, [
            {"isin": ISIN, "symbol": SYMBOL, "name": "Apple", "currency": "USD",
             "yahoo_symbol": SYMBOL}], START)
        self.ctx = ActorContext(bus=None, io=io, clock=clock,  # type: ignore[arg-type]
                                settings=lambda: config, deps=wired(self.store))
        self.known = KnownHistories()

    def top_up(self, source: Source, keep: bool) -> None:
        secs = securities_repo.list_securities(self.store, active_only=True)
        sync_histories(self.ctx, source, structlog.get_logger(), secs, self.ctx.clock.now(),
                       reread=False, known_by_isin=self.known if keep else KnownHistories(),
                       rescales={}, details=lambda sec: None)

    def stored(self) -> tuple[list[Any], list[Any]]:
        return ([tuple(r) for r in self.store.fetch_all(
                    "SELECT isin, day, open, high, low, close, adj_close, volume, source "
                    "FROM price_history ORDER BY isin, day")],
                [tuple(r) for r in self.store.fetch_all(
                    "SELECT isin, day, close, reason, detail FROM price_quarantine "
                    "ORDER BY isin, day, reason")])

    def close(self) -> None:
        self.other.close()
        self.store.close()


_ops = st.lists(st.tuples(
    st.sampled_from(["revise", "bad", "other_write", "other_delete", "none"]),
    st.integers(0, 40), st.floats(50.0, 150.0), st.integers(2, 4)), min_size=1, max_size=6)
_EXAMPLE = iter(range(10**6))


@pytest.mark.parametrize("config", [SETTINGS, LONG_SEED], ids=["seed1y", "seed3y"])
@settings(max_examples=20, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(_ops)
def test_a_top_up_with_memory_stores_what_one_without_stores(
        io: IoLoop, tmp_path: Path, config: Any,
        ops: list[tuple[str, int, float, int]]) -> None:
    clock = ManualClock(START)
    run = next(_EXAMPLE)
    kept, fresh = (Side(tmp_path / f"{run}-{name}.db", io, clock, config)
                   for name in ("k", "f"))
    source = Source()
    try:
        kept.top_up(source, keep=True)
        fresh.top_up(source, keep=False)
        assert kept.stored() == fresh.stored()
        remembered = kept.known.get(ISIN)  # only what a top-up re-reads: a year of weekdays
        assert remembered is not None and len(remembered.answer) <= 262
        for op, back, value, advance in ops:
            clock.advance(timedelta(days=advance))  # a new day or more: a top-up is due
            day = clock.now().date() - timedelta(days=back)
            if op == "revise":
                source.revised[day] = value
            elif op == "bad":
                source.revised[day] = value * 10  # judged a split-like jump, quarantined
            for side in (kept, fresh):
                if op == "other_write":
                    SqlitePriceHistory(side.other).write_history(
                        {ISIN: ([PriceBar(day, value)], ())}, "other", clock.now())
                elif op == "other_delete":
                    side.other.execute("DELETE FROM price_history WHERE isin = ? AND day = ?",
                                       (ISIN, day.isoformat()))
            kept.top_up(source, keep=True)
            fresh.top_up(source, keep=False)
            assert kept.stored() == fresh.stored()
    finally:
        kept.close()
        fresh.close()


def test_a_first_sync_written_in_batches_stores_what_one_write_stores(
        io: IoLoop, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A seed of many securities is written every ``WRITE_BATCH_BARS`` bars, so a
    universe's ten years are never all in memory: the store ends up the same, each
    security is remembered, and the next top-up writes only the new days."""
    from arduino_trader.actors import market_data_history

    clock = ManualClock(START)
    sides = {}
    for name, batch in (("one", 10**9), ("many", 1)):  # one write; a write per security
        monkeypatch.setattr(market_data_history, "WRITE_BATCH_BARS", batch)
        side = Side(tmp_path / f"{name}.db", io, clock, LONG_SEED)
        securities_repo.insert_securities(side.store, [
            {"isin": isin, "symbol": sym, "name": sym, "currency": "USD",
             "yahoo_symbol": sym}
            for isin, sym in (("US5949181045", "MSFT"), ("US4592001014", "IBM"))], START)
        secs = securities_repo.list_securities(side.store, active_only=True)
        synced = sync_histories(side.ctx, Source(), structlog.get_logger(), secs, START,
                                reread=False, known_by_isin=side.known, rescales={},
                                details=lambda sec: None)
        assert len(synced.stored) == 3 and synced.rows == sum(synced.stored.values())
        assert all(side.known.get(s["isin"]) is not None for s in secs)
        again = sync_histories(side.ctx, Source(), structlog.get_logger(), secs,
                               START + timedelta(days=2), reread=False,
                               known_by_isin=side.known, rescales={},
                               details=lambda sec: None)
        # Thursday and Friday are new; the remembered year is not written again
        assert again.stored == {s["isin"]: 2 for s in secs} and again.rows == 6
        sides[name] = side
    try:
        assert sides["one"].stored() == sides["many"].stored()
        assert sides["one"].stored()[0]
    finally:
        for side in sides.values():
            side.close()
