"""Backtest: the step clock, the report maths, bad input refused before any work, the CLI
report, and parity with the ordinary research daemon driven by the same step clock."""

from __future__ import annotations

import importlib.util
import json
import math
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from daemon_harness import ProbeDaemon
from hypothesis import given
from hypothesis import strategies as st

from arduino_trader.adapters.clock import StepClock
from arduino_trader.config.settings import load_settings
from arduino_trader.daemon.backtest import (
    BacktestConfig,
    BacktestError,
    StepDriver,
    backtest_settings,
    build_source,
    read_orders,
    start_moment,
    validate,
)
from arduino_trader.daemon.cli import main
from arduino_trader.daemon.scheduler import SIMULATED_DAY_JOBS
from arduino_trader.daemon.service import DaemonOptions
from arduino_trader.domain.backtest_report import (
    EquityPoint,
    TradeRow,
    build_report,
    buy_and_hold,
    order_hash,
)

START, END = date(2019, 1, 2), date(2019, 2, 1)  # 22 trading days, a month change
SMALL_PLANNER = """
max_plan_depth = 2
planner_max_sequences = 50
beam_width = 3
monte_carlo_path_count = 20
"""


def test_step_clock_jumps_forward_only() -> None:
    clock = StepClock(datetime(2019, 1, 2, 20, tzinfo=UTC))
    m0 = clock.monotonic()
    clock.set(datetime(2019, 1, 3, 20, tzinfo=UTC))
    assert clock.now() == datetime(2019, 1, 3, 20, tzinfo=UTC)
    assert clock.monotonic() - m0 >= 86_400
    with pytest.raises(ValueError, match="backwards"):
        clock.set(datetime(2019, 1, 1, tzinfo=UTC))
    with pytest.raises(ValueError):
        StepClock(datetime(2019, 1, 1))  # naive


def test_buy_and_hold_invests_every_flow_equally() -> None:
    days = [date(2020, 1, d) for d in (1, 2, 3)]
    values = buy_and_hold(days, {"A": [10.0, 20.0, 20.0], "B": [5.0, 5.0, 10.0]},
                          [100.0, 0.0, 100.0])
    # day 0: 5 A + 10 B; day 2: +2.5 A +5 B
    assert values == pytest.approx([100.0, 150.0, 7.5 * 20 + 15 * 10])


@given(st.lists(st.floats(1.0, 1000.0), min_size=2, max_size=30),
       st.floats(1.0, 1e6))
def test_buy_and_hold_tracks_one_security_exactly(closes: list[float], cash: float) -> None:
    days = [date(2020, 1, 1) + timedelta(days=i) for i in range(len(closes))]
    flows = [cash] + [0.0] * (len(closes) - 1)
    values = buy_and_hold(days, {"X": closes}, flows, eur_per_unit=0.5)
    assert all(math.isclose(v, cash * c / closes[0], rel_tol=1e-9)
               for v, c in zip(values, closes, strict=True))


def test_order_hash_is_canonical() -> None:
    a = [{"side": "BUY", "quantity": 2}]
    assert order_hash(a) == order_hash([{"quantity": 2, "side": "BUY"}])
    assert order_hash(a) != order_hash([{"side": "BUY", "quantity": 3}])


def test_report_has_every_figure_and_buckets() -> None:
    days = [date(2020, 1, 1) + timedelta(days=i) for i in range(5)]
    equity = [EquityPoint(d, v, f) for d, v, f in
              zip(days, [100.0, 101, 99, 103, 104], [100.0, 0, 0, 0, 0], strict=True)]
    trades = [TradeRow(days[1], "BUY", 50.0, 1.0, "core"),
              TradeRow(days[3], "SELL", 20.0, 0.5, "sat")]
    report = build_report(equity, trades, {"idx": [100.0, 100, 100, 100, 110]}, "h", {})
    for key in ("cagr", "volatility", "sharpe", "sortino", "max_drawdown"):
        assert key in report["strategy"] and key in report["benchmarks"]["idx"]
    assert report["strategy"]["max_drawdown"] < 0
    assert report["trading"]["trades"] == 2 and report["trading"]["fees_eur"] == 1.5
    assert set(report["trading"]["buckets"]) == {"core", "sat"}


@pytest.mark.parametrize(("start", "end", "cash", "message"), [
    (date(1980, 1, 2), date(1980, 3, 1), "1000", "outside the data"),
    (date(2019, 3, 1), date(2019, 2, 1), "1000", "must be after"),
    (date(2019, 1, 5), date(2019, 1, 6), "1000", "trading day"),
    (START, END, "0", "initial-cash"),
])
def test_bad_input_is_refused_before_any_work(start: date, end: date, cash: str,
                                              message: str) -> None:
    config = BacktestConfig(start, end, Decimal(cash))
    settings = backtest_settings(load_settings(None, environ={}), config)
    source = build_source(config, settings, StepClock(datetime(2019, 1, 2, tzinfo=UTC)))
    with pytest.raises(BacktestError, match=message):
        validate(config, source)


def test_cli_refuses_a_missing_data_file(tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["backtest", "--data", str(tmp_path / "none.csv"), "--start", "2019-01-02",
                 "--end", "2019-02-01", "--report", str(tmp_path / "r")])
    assert code == 1 and "does not exist" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


@pytest.mark.slow
def test_backtest_and_research_daemon_give_the_same_orders(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config_file = tmp_path / "small.toml"
    config_file.write_text(SMALL_PLANNER, encoding="utf-8")
    report = tmp_path / "report"
    assert main(["backtest", "--start", START.isoformat(), "--end", END.isoformat(),
                 "--initial-cash", "10000", "--monthly-deposit", "500",
                 "--config", str(config_file), "--report", str(report),
                 "--progress-every", "5", "--log-level", "none"]) == 0
    err = capsys.readouterr().err
    assert "backtest: 5/22 days" in err
    summary = json.loads((report / "report.json").read_text())
    orders = json.loads((report / "orders.json").read_text())
    assert summary["trading_days"] == 22 and summary["orders"] == len(orders["orders"]) > 0
    assert orders["sha256"] == summary["orders_sha256"] == order_hash(orders["orders"])
    assert set(summary["benchmarks"]) == {"buy_and_hold_equal_weight", "sp500_index"}
    assert summary["strategy"]["invested"] == pytest.approx(10500, abs=0.02)
    # deposits arrive in EUR: the USD buys were funded by EUR/USD exchanges, fees counted
    exchanges = [o for o in orders["orders"] if o["symbol"] == "EUR/USD"]
    assert exchanges and all(o["side"] == "SELL" and o["fill_prices"] for o in exchanges)
    assert summary["currency_exchange_fills"] >= len(exchanges)
    assert summary["currency_exchange_fees_eur"] > 0
    if importlib.util.find_spec("matplotlib") is not None:  # the test extra installs it
        assert (report / "equity.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    # The ordinary daemon (API, ticking scheduler, research mode) on the same step clock:
    # its scheduler's timer keeps running, stepped by the simulated clock.
    cfg = BacktestConfig(START, END, Decimal("10000"), Decimal("500"))
    settings = backtest_settings(load_settings(config_file, environ={}), cfg)
    clock = StepClock(start_moment(START))
    source = build_source(cfg, settings, clock)
    days = validate(cfg, source)
    daemon = ProbeDaemon(DaemonOptions(settings=settings, data_dir=tmp_path / "live",
                                       clock=clock, configure_logs=False, port_override=0,
                                       supervisor_backoff_s=0.2))
    daemon.start()
    try:
        assert daemon.port and daemon.scheduler is not None
        assert daemon.scheduler.stepped is not None
        driver = StepDriver(daemon, clock, cfg.initial_cash, cfg.monthly_deposit)
        for i, day in enumerate(days):
            # Every other day the scheduler's own timer finds the jobs due and runs them.
            ran = driver.step(day, by_timer=i % 2 == 1, timeout_s=120)
            assert list(ran) == [j for j in SIMULATED_DAY_JOBS if j in ran]  # in order
            assert {"sync_prices", "planner", "autonomous_execution"} <= set(ran)
        assert not driver.failures
        live_orders = read_orders(daemon)
    finally:
        daemon.stop()
    assert live_orders == orders["orders"]
    assert order_hash(live_orders) == orders["sha256"]
