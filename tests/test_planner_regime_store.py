"""The planner's regime across days and restarts: computed once a day from the index,
smoothed over the previous stored day, stored with its components."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import numpy as np
import pytest

from arduino_trader.actors.planner_inputs import InputGatherer
from arduino_trader.adapters.store import regime_repo
from arduino_trader.adapters.store.sqlite import SqliteStore
from arduino_trader.config.settings import load_settings
from arduino_trader.daemon.io_loop import IoLoop
from arduino_trader.domain import regime as rg
from arduino_trader.protocols.broker import AccountSnapshot, CashBalance
from arduino_trader.protocols.market_data import PriceBar, UnknownSymbol

DAY1 = datetime(2024, 6, 3, 12, 0, tzinfo=UTC)
ACCOUNT = AccountSnapshot((), (CashBalance("EUR", Decimal(1000)),), True)


def _path(daily_returns: Any) -> list[float]:
    return list(100 * np.cumprod(np.concatenate([[1.0], 1 + np.asarray(daily_returns)])))


class Index:
    """A market-data source whose ^GSPC closes the test sets (other series: none)."""

    def __init__(self, closes: list[float]) -> None:
        self.closes = closes

    def history(self, symbol: str, start: date, end: date) -> Any:
        if symbol != "^GSPC":
            raise UnknownSymbol(symbol)
        bars = [PriceBar(start + timedelta(days=k), c) for k, c in enumerate(self.closes)]
        return type("H", (), {"bars": bars})()


def _gather(io: IoLoop, store: SqliteStore, source: Index, now: datetime,
            **overrides: Any) -> float:
    settings = load_settings(None, environ={}).with_overrides(overrides)
    gathered = InputGatherer(io, store, source).gather(ACCOUNT, "research", settings, now)
    score: float = gathered.plan_input.regime_score
    return score


def test_a_crash_day_after_a_bull_run_is_smoothed_across_a_restart(
        io: IoLoop, store: SqliteStore) -> None:
    rise = _path(np.full(40, 0.003))
    first = _gather(io, store, Index(rise), DAY1)
    assert first == pytest.approx(rg.regime_score({"S": np.array(rise)},
                                                  weights={"S": 1.0}).score)
    assert rg.label_for(first) == "bull"
    # Next day, a new gatherer (a restarted daemon: empty caches) sees a −7 % day.
    shock = _path(np.r_[np.full(39, 0.002), -0.07])
    raw = rg.regime_score({"S": np.array(shock)}, weights={"S": 1.0}).raw
    assert rg.label_for(raw) == "bear"
    second = _gather(io, store, Index(shock), DAY1 + timedelta(days=1))
    assert second == pytest.approx(0.1 * raw + 0.9 * first)
    assert rg.label_for(second) == "bull"
    rows = regime_repo.recent_regimes(store)
    assert [r["day"] for r in rows] == ["2024-06-04", "2024-06-03"]
    assert rows[0]["raw"] == pytest.approx(raw) and rows[0]["score"] == pytest.approx(second)
    assert set(rows[0]["components"]) == {"return", "volatility", "drawdown"}
    # The same day again (another restart) smooths over day 1 again, not over itself.
    assert _gather(io, store, Index(shock), DAY1 + timedelta(days=1, hours=2)) == \
        pytest.approx(second)


def test_the_configured_cuts_label_the_stored_regime(io: IoLoop, store: SqliteStore) -> None:
    rise = _path(np.full(40, 0.003))
    score = _gather(io, store, Index(rise), DAY1, market_regime_bull_threshold=0.9)
    assert 0.3 < score < 0.9
    assert regime_repo.recent_regimes(store)[0]["label"] == "sideways"


def test_a_missing_index_keeps_the_last_stored_score(io: IoLoop, store: SqliteStore) -> None:
    first = _gather(io, store, Index(_path(np.full(40, -0.003))), DAY1)
    assert first < -0.3
    gone = InputGatherer(io, store, Index([])).gather(
        ACCOUNT, "research", load_settings(None, environ={}), DAY1 + timedelta(days=1))
    assert gone.plan_input.regime_score == first
    assert any("last stored score kept" in w for w in gone.warnings)
