"""The strategy in a whole backtest run (the daemon's real actors on the bundled data):
the opening cash is invested within the warm-up and each deposit within a few days,
no sale is followed by a rebuy of that security within the cooldown, and the report
carries the daily cash share."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import pytest

from arduino_trader.daemon.cli import main

SMALL_PLANNER = """
max_plan_depth = 2
planner_max_sequences = 50
beam_width = 3
monte_carlo_path_count = 20
"""


@pytest.mark.slow
@pytest.mark.timeout(900)  # a quarter of simulated days
def test_deposits_are_invested_within_days_and_no_rebuy_follows_a_sale(
        tmp_path: Path) -> None:
    config_file = tmp_path / "small.toml"
    config_file.write_text(SMALL_PLANNER, encoding="utf-8")
    assert main(["backtest", "--start", "1995-01-03", "--end", "1995-03-31",
                 "--initial-cash", "10000", "--monthly-deposit", "1000",
                 "--config", str(config_file), "--report", str(tmp_path / "r"),
                 "--progress-every", "0", "--log-level", "none"]) == 0
    report = json.loads((tmp_path / "r" / "report.json").read_text())
    daily = report["daily"]
    shares, flows = daily["cash_share"], daily["contribution_eur"]
    deposits = [i for i, f in enumerate(flows) if f > 0]
    assert len(deposits) == 3
    # The opening 10,000 EUR goes out one buy a day (the daemon sends step 1 of a plan per
    # cycle) within the warm-up; each monthly deposit within five trading days. Left:
    # the reserve (≤ 5 %) + the tolerance (≤ 250 EUR ≈ 2 %) + a lot's rounding.
    assert min(shares[:21]) <= 0.10, shares[:21]
    for d in deposits[1:]:
        assert min(shares[d:d + 6]) <= 0.10, (daily["day"][d], shares[d:d + 6])
    assert report["strategy"]["mean_cash_share"] is None or \
        report["strategy"]["mean_cash_share"] <= 0.10
    orders = json.loads((tmp_path / "r" / "orders.json").read_text())["orders"]
    sold: dict[str, date] = {}
    for o in orders:
        day = date.fromisoformat(o["day"])
        if o["side"] == "SELL" and o["filled_quantity"]:
            sold[o["isin"]] = day
        elif o["side"] == "BUY" and o["isin"] in sold:
            assert day - sold[o["isin"]] >= timedelta(days=30), o
