"""`arduino-trader run --demo`: real content offline within a minute, on the wall clock."""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from daemon_harness import wait_for

from arduino_trader.adapters.market_data.replay_data import weekdays_ending
from arduino_trader.adapters.market_data.replay_source import ReplaySource
from arduino_trader.config.settings import load_settings
from arduino_trader.daemon.cli import build_parser
from arduino_trader.daemon.demo import DEMO_HOLDINGS, DemoDaemon, demo_settings
from arduino_trader.daemon.service import DaemonOptions


def test_weekdays_ending_skips_weekends_and_keeps_count() -> None:
    days = weekdays_ending(date(2026, 11, 22), 7)  # a Sunday: ends on Friday the 20th
    assert days[-1] == date(2026, 11, 20) and len(days) == 7
    assert all(d.weekday() < 5 for d in days) and list(days) == sorted(set(days))


def test_redated_replay_keeps_the_real_closes() -> None:
    class Fixed:
        def __init__(self, at: datetime) -> None:
            self.at = at

        def now(self) -> datetime:
            return self.at

        def monotonic(self) -> float:
            return 0.0

    real = ReplaySource(Fixed(datetime(2030, 1, 1, tzinfo=UTC)))
    yesterday = date(2026, 11, 23)
    shifted = ReplaySource(Fixed(datetime(2026, 11, 24, 12, tzinfo=UTC)), end_on=yesterday)
    assert shifted.last_day == yesterday
    old = real.history("AAPL", date(2022, 1, 1), date(2022, 12, 31)).bars
    new = shifted.history("AAPL", yesterday - timedelta(days=800), yesterday).bars
    assert [b.close for b in new[-len(old):]] == [b.close for b in old]
    assert shifted.quotes(["AAPL"])["AAPL"].price == old[-1].close


def test_run_accepts_demo_flag() -> None:
    args = build_parser().parse_args(["run", "--demo", "--data-dir", "x"])
    assert args.demo is True


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[DemoDaemon]:
    settings = demo_settings(load_settings(None, environ={}))
    d = DemoDaemon(DaemonOptions(settings=settings, data_dir=tmp_path / "state",
                                 configure_logs=False, port_override=0,
                                 supervisor_backoff_s=0.2))
    d.start()
    try:
        yield d
    finally:
        d.stop()


def _count(d: DemoDaemon, sql: str) -> int:
    row = d.store.fetch_one(sql)
    return int(row[0]) if row is not None else 0


@pytest.mark.slow
def test_demo_shows_real_content_within_a_minute(demo: DemoDaemon) -> None:
    assert demo.seeded
    wait_for(lambda: _count(demo, "SELECT COUNT(*) FROM securities") >= 20, 60, "universe")
    wait_for(lambda: _count(demo, "SELECT COUNT(*) FROM portfolio_snapshots") >= 1, 60,
             "a portfolio snapshot")
    wait_for(lambda: _count(demo, "SELECT COUNT(*) FROM plans") >= 1, 60, "a stored plan")
    row = demo.store.fetch_one(
        "SELECT id, status, reason FROM plans ORDER BY id DESC LIMIT 1")
    # cash to deploy, and holdings bought at the last close: buys only, never a sale
    # within the minimum hold
    assert row is not None and row["status"] == "plan", dict(row) if row else None
    sides = {r["side"] for r in demo.store.fetch_all(
        "SELECT side FROM recommendations WHERE plan_id = ?", (row["id"],))}
    assert sides == {"BUY"}, (sides, row["reason"])
    positions = _count(demo, "SELECT COUNT(*) FROM paper_positions")
    assert positions == len(DEMO_HOLDINGS)
    with urllib.request.urlopen(f"http://127.0.0.1:{demo.port}/", timeout=10) as resp:
        assert resp.status == 200 and b"<html" in resp.read().lower()
