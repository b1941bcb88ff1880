"""Domain-level scenarios of issue 7, chained through the pure modules: a deposit is
allocated; a dividend is reinvested only after a fill; a negative USD balance is
repaired in the stated order."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

from arduino_trader.domain.cash_flows.deposit_split import BucketShare
from arduino_trader.domain.cash_flows.effects import EffectContext, apply_record
from arduino_trader.domain.cash_flows.fx import RateTable
from arduino_trader.domain.cash_flows.normalise import cash_flow_rows, normalise
from arduino_trader.domain.dividends import (
    Dividend,
    DripBuy,
    Instrument,
    apply_fill,
    plan_reinvestment,
)
from arduino_trader.domain.emergency import Exchange, Holding, Sale, plan_emergency
from arduino_trader.domain.execution.costs import CostModel
from arduino_trader.protocols.broker import CashFlow

D = Decimal
AT = datetime(2026, 3, 6, 12, tzinfo=UTC)
RATES = RateTable(by_date={("USD", AT.date()): D("0.9")}, latest={"USD": D("0.9")})


def _ctx() -> EffectContext:
    return EffectContext(rates=RATES, satellite_budget=D("0.2"), buckets=(
        BucketShare("core", "core", D("0.8"), D("8000")),
        BucketShare("momentum", "satellite", D("0.1"), D("500")),
        BucketShare("dip", "satellite", D("0.1"), D("1500"))))


def test_deposit_arrives_and_is_allocated() -> None:
    batch = normalise("user_cash_flow", cash_flow_rows(
        [CashFlow("c-1", "card", D("1000"), "EUR", AT)]))
    (rec,) = batch.records
    eff = apply_record(None, rec, _ctx())
    # N = 11000: core 8800 − 8000 = 800; momentum deficit 600 > rest 200 → 200; dip 0
    assert [(e.bucket_id, e.amount) for e in eff.ledger] == [("core", D("800.00")),
                                                             ("momentum", D("200.00"))]
    assert sum(e.amount for e in eff.ledger) == rec.amount


def test_dividend_arrives_and_is_reinvested_after_a_fill() -> None:
    rows = [CashFlow(f"d-{i}", "dividend", D(a), "USD", AT) for i, a in
            enumerate(["180", "160"])]
    raw = cash_flow_rows(rows)
    for row in raw:
        row["symbol"] = "KO.US"
    records = normalise("user_cash_flow", raw).records
    effs = [apply_record(None, r, _ctx()) for r in records]
    divs = {i: Dividend(i, row.symbol, row.amount_eur, date(2026, 3, 6))
            for i, e in enumerate(effs) for row in e.dividends}
    assert [d.amount_eur for d in divs.values()] == [D("162.00"), D("144.00")]
    minimum = CostModel(D("2"), D("0.002")).min_trade_eur(D(0))  # floor setting 0: 250

    def plan() -> tuple[DripBuy, ...]:
        return plan_reinvestment(list(divs.values()), min_trade=minimum,
                                 yields={"KO.US": D("0.035")},
                                 instruments={"KO.US": Instrument("KO.US", D("60"), "USD")},
                                 eur_per=RATES.eur_per,
                                 bucket_cash_eur={"core": D("1000")},
                                 today=date(2026, 3, 6)).buys

    (buy,) = plan()
    assert not any(d.reinvested for d in divs.values())  # planning marks nothing
    changed, _ = apply_fill(divs, buy, "trade:77", D(buy.quantity), buy.cost_eur)
    divs.update(changed)
    assert divs[0].reinvested and divs[1].remaining_eur < minimum
    assert plan() == ()  # the consumed euros are never planned again


def test_negative_usd_is_repaired_in_the_stated_order() -> None:
    holdings = [Holding("KO.US", D("20"), D("60"), "USD", "XNYS"),
                Holding("SAP.DE", D("5"), D("200"), "EUR", "XETR")]
    plan = plan_emergency({"EUR": D("105"), "USD": D("-400")}, ["USD", "EUR"], holdings,
                          RATES, lambda ex: ex == "XNYS")
    kinds = [(type(a).__name__, a.step) for a in plan.actions]
    assert kinds[0] == ("Exchange", 1) and ("Sale", 2) in kinds
    assert [k for k in kinds if k[1] == 2] == [("Sale", 2)]
    first = plan.actions[0]
    assert isinstance(first, Exchange) and first.sell_amount == D("100.00")  # EUR keeps 5
    sale = next(a for a in plan.actions if isinstance(a, Sale))
    assert sale.symbol == "KO.US" and plan.resolved
