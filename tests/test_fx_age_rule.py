"""One FX age rule (``market_data.fx_max_age_days``) for current and dated lookups: an
older rate values nothing, and what needs it is refused with the reason."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
import test_fx_exchange_emergency as fx_emergency
from test_fx_exchange_emergency import START, Rig

from arduino_trader.adapters.store import fx_tables, market_repo
from arduino_trader.adapters.store.sqlite import SqliteStore
from arduino_trader.daemon.io_loop import IoLoop
from arduino_trader.domain.cash_flows.fx import MissingRate, RateTable
from arduino_trader.protocols.cash_flows import CheckBalances
from arduino_trader.protocols.market_data import FxRate

D = Decimal
rig = fx_emergency.rig  # live, against the sandbox
TODAY = date(2026, 3, 10)


def test_a_current_rate_older_than_the_limit_is_refused_with_its_age() -> None:
    table = RateTable(latest={"USD": D("0.9"), "GBP": D("1.15")},
                      latest_day={"USD": TODAY - timedelta(days=432), "GBP": TODAY},
                      today=TODAY, max_age_days=4)
    with pytest.raises(MissingRate, match=r"newest is of 2025-01-02, older than 4 days"):
        table.eur_per("USD")
    assert table.eur_per("GBP") == D("1.15") and table.current() == {"GBP": D("1.15")}
    assert RateTable(latest={"USD": D("0.9")}).eur_per("USD") == D("0.9")  # no clock: as is


def test_stored_rates_load_with_the_one_rule(io: IoLoop, store: SqliteStore) -> None:
    old = TODAY - timedelta(days=10)
    market_repo.write_fx(store, [FxRate("USD", D("0.9"), old, START, "test")],
                                START)
    for load in (fx_tables.load_rates, fx_tables.load_latest_rates):
        table = load(store, 4, TODAY)
        with pytest.raises(MissingRate, match="older than 4 days"):
            table.eur_per("USD")
        assert load(store, 10, TODAY).eur_per("USD") == D("0.9")
    dated = fx_tables.load_rates(store, 4, TODAY)
    assert dated.eur_per("USD", old + timedelta(days=4)) == D("0.9")
    with pytest.raises(MissingRate):
        dated.eur_per("USD", old + timedelta(days=5))


def test_the_balance_check_refuses_a_stale_rate(rig: Rig) -> None:
    rig.store.execute("DELETE FROM fx_rates WHERE currency = 'USD'")
    market_repo.write_fx(rig.store, [FxRate(
        "USD", D("0.9"), START.date() - timedelta(days=432), START, "test")], START)
    rig.set_cash("USD", D("-100"))
    answer = rig.bus.ask("cash_flows", CheckBalances(), 30)
    assert answer["error"] == "missing_rate" and "older than 4 days" in answer["message"]
