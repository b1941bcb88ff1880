"""The board's LED matrix: frames (property) and GET /api/system/led/display."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from daemon_harness import Client, ProbeDaemon, start_daemon
from hypothesis import given
from hypothesis import strategies as st

from arduino_trader.domain.led_display import HEIGHT, WIDTH, portfolio_frame, stats_frame

money = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("1e7"), places=2)


def _shape_ok(rows: list[str]) -> bool:
    return len(rows) == HEIGHT and all(len(r) == WIDTH and set(r) <= {"0", "1"}
                                       for r in rows)


@given(st.lists(money, max_size=30))
def test_stats_frame_has_a_column_per_recent_value(values: list[Decimal]) -> None:
    rows = stats_frame(values)
    assert _shape_ok(rows)
    heights = [sum(row[c] == "1" for row in rows) for c in range(WIDTH)]
    recent = values[-WIDTH:]
    assert heights[:WIDTH - len(recent)] == [0] * (WIDTH - len(recent))
    assert all(1 <= h <= HEIGHT for h in heights[WIDTH - len(recent):])
    if recent:
        assert heights[WIDTH - 1 - recent[::-1].index(max(recent))] == HEIGHT


@given(st.lists(money, max_size=10), st.integers(1, 10), st.integers(1, 8))
def test_portfolio_frame_shows_each_top_holding_as_a_cluster(
        weights: list[Decimal], top: int, min_cluster: int) -> None:
    rows = portfolio_frame(weights, top, min_cluster)
    assert _shape_ok(rows)
    clusters = [c for c in "".join(rows).split("0") if c]
    shown = min(len(weights), top)
    assert len(clusters) == shown  # every top holding is visible
    if shown * (min_cluster + 1) <= WIDTH * HEIGHT:  # room for every minimum
        assert all(len(c) >= min_cluster for c in clusters)
    assert [len(c) for c in clusters] == sorted((len(c) for c in clusters), reverse=True)


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[ProbeDaemon]:
    d = start_daemon(tmp_path / "state")
    yield d
    d.gate.set()
    d.stop()


def _exec(d: ProbeDaemon, sql: str, params: tuple[Any, ...] = ()) -> None:
    d.store.execute(sql, params)


def _seed(d: ProbeDaemon) -> None:
    for day, total in (("2026-03-01", "10000.00"), ("2026-03-02", "10500.40")):
        _exec(d, "INSERT INTO portfolio_snapshots (date, total_value, cash_balance, "
                 "invested_value, unrealized_pnl, updated_at) VALUES (?, ?, '812.60', "
                 "'9000', '0', 1)", (day, total))
    for symbol, eur in (("AAPL.US", "6000"), ("SAP.DE", "3000"), ("NOEUR.US", None)):
        _exec(d, "INSERT INTO portfolio_positions (symbol, isin, quantity, avg_price, "
                 "currency, current_price, market_value, market_value_eur, "
                 "price_updated_at, last_updated) VALUES (?, NULL, '1', '1', 'EUR', '1', "
                 "'1', ?, 1, 1)", (symbol, eur))
    _exec(d, "INSERT INTO plans (id, portfolio_hash, status, reason, trigger, result_json, "
             "duration_ms, created_at) VALUES (1, 'h', 'plan', 'r', 't', '{}', 1, 1)")
    for step, (side, symbol, value) in enumerate((("BUY", "SAP.DE", "499.50"),
                                                  ("SELL", "AAPL.US", "250"))):
        _exec(d, "INSERT INTO recommendations (uuid, plan_id, step, symbol, isin, side, "
                 "quantity, estimated_price, estimated_value, cost_eur, currency, reason, "
                 "priority, score_before, score_after, status, portfolio_hash, created_at, "
                 "updated_at) VALUES (?, 1, ?, ?, 'X', ?, 1, '1', ?, '1', 'EUR', ?, 1, 0, 1, "
                 "'pending', 'h', 1, 1)", (f"u{step}", step + 1, symbol, side, value,
                                           f"r{step}"))


def test_display_follows_the_settings_and_the_portfolio(daemon: ProbeDaemon) -> None:
    api = Client(daemon)
    code, empty = api.call("GET", "/api/system/led/display", token=None)
    assert code == 200 and empty["ticker"]["text"] == "NO DATA"
    assert empty["frame"]["rows"] == ["0" * WIDTH] * HEIGHT
    _seed(daemon)
    _, stats = api.call("GET", "/api/system/led/display", token=None)
    assert stats["mode"] == "STATS" and stats["brightness"] == 150
    assert stats["ticker"] == {"text": "PORTFOLIO EUR 10,500 * CASH EUR 813 * "
                                       "BUY SAP.DE EUR 500 * SELL AAPL.US EUR 250",
                               "speed_ms": 50}
    columns = [sum(r[c] == "1" for r in stats["frame"]["rows"]) for c in range(WIDTH)]
    assert columns == [0] * (WIDTH - 2) + [1, HEIGHT]
    for key, value in (("display_mode", "PORTFOLIO"), ("display_min_cluster_size", 40),
                       ("ticker_show_amounts", False), ("ticker_max_actions", 1),
                       ("ticker_show_cash", False), ("led_brightness", 30)):
        assert api.call("PUT", f"/api/settings/{key}", {"value": value})[0] == 200
    _, portfolio = api.call("GET", "/api/system/led/display", token=None)
    assert portfolio["brightness"] == 30
    assert portfolio["ticker"]["text"] == "PORTFOLIO EUR 10,500 * BUY SAP.DE"
    lit = "".join(portfolio["frame"]["rows"])
    # 103 pixels: 40 each, the 23 left shared 2:1 (the holding without a EUR value is out)
    assert [len(c) for c in lit.split("0") if c] == [55, 47]
    assert api.call("PUT", "/api/settings/display_mode", {"value": "TICKER"})[0] == 200
    _, ticker = api.call("GET", "/api/system/led/display", token=None)
    assert ticker["frame"] is None and ticker["mode"] == "TICKER"
    assert api.call("PUT", "/api/settings/display_mode", {"value": "BLINK"})[0] == 400
