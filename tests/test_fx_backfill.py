"""A cash flow dated before the first stored rate of its currency is booked at its own
day's rate, back-filled from the market-data source's daily pair history in the same
sync, never at today's rate and never left waiting for ever."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pykka
import test_cash_flow_actor as cash_flow_actor
from test_cash_flow_actor import START, Rig

from arduino_trader.actors.fx_backfill import history_rates
from arduino_trader.adapters.store import market_repo
from arduino_trader.protocols.market_data import (
    EmptyHistory,
    FxRate,
    GetFxHistory,
    PriceBar,
    PriceHistory,
)

D = Decimal
rig = cash_flow_actor.rig  # the cash-flow actor against the sandbox


class PairHistory:
    """A source whose only history is Yahoo's ``EURUSD=X`` (units of USD per EUR)."""

    name = "yfinance"

    def __init__(self, per_eur: dict[date, float]) -> None:
        self.per_eur = per_eur
        self.asked: list[tuple[str, date, date]] = []

    def history(self, symbol: str, start: date, end: date) -> PriceHistory:
        self.asked.append((symbol, start, end))
        bars = tuple(PriceBar(d, c) for d, c in sorted(self.per_eur.items())
                     if start <= d <= end)
        if symbol != "EURUSD=X" or not bars:
            raise EmptyHistory(f"no bars for {symbol}")
        return PriceHistory(symbol, "USD", bars, START, self.name)


class MarketDataStub(pykka.ThreadingActor):
    """Answers ``GetFxHistory`` as the market-data actor does: store what the source has."""

    def __init__(self, rig: Rig, source: PairHistory) -> None:
        super().__init__()
        self.rig, self.source = rig, source

    def on_receive(self, message: Any) -> Any:
        if isinstance(message, GetFxHistory):
            rates = history_rates(self.source, message.currency, message.start,  # type: ignore[arg-type]
                                  message.end, START)
            market_repo.write_fx(self.rig.store, rates, START)
            return len(rates)
        return None


def test_history_rates_invert_the_pair_per_day() -> None:
    source = PairHistory({date(2026, 2, 23): 1.08, date(2026, 2, 24): 1.0})
    rates = history_rates(source, "usd", date(2026, 2, 20), date(2026, 2, 24),  # type: ignore[arg-type]
                          START)
    assert [(r.currency, r.day, r.eur_per, r.source) for r in rates] == [
        ("USD", date(2026, 2, 23), D("0.9259259259"), "yfinance_history"),
        ("USD", date(2026, 2, 24), D("1.0000000000"), "yfinance_history")]
    assert history_rates(source, "GBP", date(2026, 2, 20), date(2026, 2, 24),  # type: ignore[arg-type]
                         START) == []


def test_a_deposit_older_than_every_stored_rate_is_booked_at_its_days_rate(rig: Rig) -> None:
    paid = START - timedelta(days=14)
    source = PairHistory({paid.date() - timedelta(days=1): 1.25, paid.date(): 1.0870})
    rig.bus.register("market_data", MarketDataStub.start(rig, source))
    market_repo.write_fx(rig.store, [  # today's rate only
        FxRate("USD", D("0.92"), START.date(), START, "test")], START)
    rig.sandbox.sandbox.account.deposit("USD", D("200.00"), paid)
    outcome = rig.job("cash_flow_sync")
    assert outcome.ok and outcome.details["missing_rate"] == [], outcome
    (row,) = rig.rows("SELECT * FROM cash_flows WHERE currency = 'USD'")
    assert row["date"] == paid.date().isoformat()
    assert D(row["amount_eur"]) == (D("200") / D("1.0870")).quantize(D("0.01"))  # not 184
    again = rig.job("cash_flow_sync")
    assert again.ok and len(source.asked) == 1  # nothing waits: the source is asked once
    assert len(rig.rows("SELECT * FROM cash_flows WHERE currency = 'USD'")) == 1


def test_without_history_the_record_waits_and_the_source_is_asked_once(rig: Rig) -> None:
    source = PairHistory({})
    rig.bus.register("market_data", MarketDataStub.start(rig, source))
    market_repo.write_fx(rig.store, [
        FxRate("USD", D("0.92"), START.date(), START, "test")], START)
    rig.sandbox.sandbox.account.deposit("USD", D("50.00"), START - timedelta(days=30))
    for _ in range(2):
        outcome = rig.job("cash_flow_sync")
        assert len(outcome.details["missing_rate"]) == 1
    assert len(source.asked) == 1
    assert rig.rows("SELECT * FROM cash_flows WHERE currency = 'USD'") == []


