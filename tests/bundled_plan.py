"""A PlanInput on the bundled real data (arduino_trader/data): the 20 demo stocks' closes up
to a given day, as the planner actor would see them in research mode (USD, one FX rate)."""

from __future__ import annotations

import csv
import gzip
from collections.abc import Sequence
from pathlib import Path

import numpy as np

import arduino_trader
from arduino_trader.domain.planner.models import Holding, PlanInput, PlannerSettings, SecurityInfo

DATA = Path(arduino_trader.__file__).parent / "data"
USD_PER_EUR = 1.0633  # ECB reference rate, 2022-12-20


def bundled_input(cash_eur: float, holdings: Sequence[Holding] = (), day: str = "2022-12-20",
                  days: int = 1260, settings: PlannerSettings | None = None) -> PlanInput:
    """Closes of the bundled universe up to ``day`` (last ``days`` rows), USD priced."""
    with (DATA / "demo_universe.csv").open() as f:
        universe = list(csv.DictReader(f))
    with gzip.open(DATA / "sp500_20_stocks_daily_close.csv.gz", "rt") as f:
        rows = list(csv.reader(f))
    header = {name: j for j, name in enumerate(rows[0])}
    body = [r for r in rows[1:] if r[0] <= day][-days:]
    secs = []
    prices = []
    for u in universe:
        j = header[u["yahoo_symbol"]]
        secs.append(SecurityInfo(u["symbol"], u["name"], u["currency"], USD_PER_EUR,
                                 u["country"], u["industry"]))
        prices.append([float(r[j]) if r[j] else np.nan for r in body])
    return PlanInput(secs, np.array(prices), list(holdings), cash_eur,
                     settings=settings or PlannerSettings())


def last_close(inp: PlanInput, symbol: str) -> float:
    """The last close of ``symbol`` in its currency."""
    i = [s.symbol for s in inp.securities].index(symbol)
    row = inp.prices[i]
    return float(row[np.isfinite(row)][-1])
