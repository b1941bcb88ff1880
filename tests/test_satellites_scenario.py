"""A core and two satellites through deposits, trades, a 35 % drawdown into hibernation
and a graduated re-awakening, with every balance exact at every step (pure domain)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from arduino_trader.domain.cash_flows.pro_rata import split_pro_rata
from arduino_trader.domain.satellites import (
    aggression,
    balances,
    drawdown,
    lifecycle,
    presets,
    reconciliation,
    targets,
)
from arduino_trader.domain.satellites.dividend_router import dividend_entries, income_shares
from arduino_trader.domain.satellites.reawakening import reawakening_multiplier
from arduino_trader.protocols.satellite_records import (
    AllocationSettings,
    Bucket,
    LedgerEntry,
    SatelliteSettings,
    new_core,
)
from tests.satellites_helpers import T0, d

DAY = timedelta(days=1)


class Scenario:
    """The pure state an actor would persist: buckets, ledger, broker cash, positions."""

    def __init__(self) -> None:
        self.buckets: dict[str, Bucket] = {"core": new_core(T0)}
        self.book = balances.BalanceBook()
        self.broker = Decimal(0)
        self.positions: dict[str, Decimal] = {"core": d("0"), "mom": d("0"), "div": d("0")}
        self.settings = AllocationSettings()

    def apply(self, rows: tuple[LedgerEntry, ...], broker_change: Decimal) -> None:
        self.book, done = self.book.apply(rows)
        assert done == rows
        self.broker += broker_change
        for bucket_id, flow in balances.external_flows(rows).items():
            self.buckets[bucket_id] = drawdown.shift_for_flow(
                self.buckets[bucket_id], flow.get("EUR", Decimal(0)), T0)

    def value(self, bucket_id: str) -> Decimal:
        return self.positions[bucket_id] + self.book.balance(bucket_id, "EUR")

    def total(self) -> Decimal:
        return sum((self.value(b) for b in self.buckets), Decimal(0))

    def cash(self) -> dict[str, Decimal]:
        return {b: self.book.balance(b, "EUR") for b in self.buckets}

    def check(self, expected: dict[str, str]) -> None:
        assert self.cash() == {b: d(v) for b, v in expected.items()}
        for b in self.buckets:
            assert self.book.balance(b, "EUR") == self.book.ledger_sum(b, "EUR")
        assert reconciliation.check(self.book, "EUR", self.broker, T0).is_reconciled
        assert targets.target_violations(self.buckets, self.settings.satellite_budget_pct) \
            == []


def test_core_and_two_satellites_full_cycle() -> None:
    s = Scenario()
    now = T0
    # Set up: budget 20 %, two satellites with presets, targets 10 % each, activated.
    s.settings = targets.set_budget(s.settings, s.buckets, d("0.20"))
    for sid in ("mom", "div"):
        sat = lifecycle.create_satellite(sid, sid.title(), now=now, min_pct=d("0.02"),
                                         max_pct=d("0.15"), start_in_research=False,
                                         existing_ids=frozenset(s.buckets))
        s.buckets[sid] = sat
        s.buckets = targets.update_bucket(s.buckets, sid, now, budget=d("0.20"),
                                          target_pct=d("0.10"))
        s.buckets[sid] = lifecycle.activate(s.buckets[sid], now)
    handling = {"mom": presets.apply_preset(SatelliteSettings("mom"), "momentum_hunter"),
                "div": presets.apply_preset(SatelliteSettings("div"), "dividend_catcher")}
    assert s.buckets["core"].target_pct == d("0.80")

    # 1. First deposit: deficit-first split 8000 / 1000 / 1000.
    s.apply(balances.deposit(d("10000"), "EUR", "cf-1", now, buckets=s.buckets,
                             values_eur={}, satellite_budget=d("0.20"),
                             eur_per_unit=d("1")), d("10000"))
    s.check({"core": "8000", "mom": "1000", "div": "1000"})
    for b in ("core", "mom", "div"):
        s.buckets[b] = drawdown.maintain(s.buckets[b], s.value(b), now).bucket
    assert s.buckets["mom"].high_water_mark == d("1000")

    # 2. Trades settle net of commission against their own bucket; a dividend is kept.
    now += DAY
    s.apply(balances.settle_trade("mom", d("802.00"), "EUR", "buy", "T-1", now), d("-802"))
    s.positions["mom"] = d("800")
    s.apply(balances.settle_trade("div", d("501.00"), "EUR", "buy", "T-2", now), d("-501"))
    s.positions["div"] = d("500")
    s.apply(balances.settle_trade("core", d("6002.50"), "EUR", "buy", "T-3", now),
            d("-6002.50"))
    s.positions["core"] = d("6000")
    shares = income_shares({"div": {"KO.US": d("12")}}, s.buckets, handling)["KO.US"]
    split = split_pro_rata(d("12.34"), shares)
    assert split == (("div", d("12.34")),)
    s.apply(dividend_entries(split, "EUR", "KO.US", "dv-1", now), d("12.34"))
    s.check({"core": "1997.50", "mom": "198.00", "div": "511.34"})

    # 3. The momentum position falls 43.75 %: value 648, drawdown 35.2 % → hibernation.
    now += DAY
    s.positions["mom"] = d("450")
    result = drawdown.maintain(s.buckets["mom"], s.value("mom"), now)
    assert result.drawdown == d("0.352") and result.events == ("hibernated",)
    s.buckets["mom"] = result.bucket
    assert not s.buckets["mom"].trading_allowed
    agg = aggression.calculate(s.value("mom"), d("0.10"), s.total(), d("1000"))
    assert agg.aggression == 0 and agg.in_hibernation
    s.check({"core": "1997.50", "mom": "198.00", "div": "511.34"})

    # 4. A deposit while "mom" hibernates: it receives nothing; "div" gets its deficit.
    now += DAY
    values = {b: s.value(b) for b in s.buckets}
    assert values == {"core": d("7997.50"), "mom": d("648.00"), "div": d("1011.34")}
    rows = balances.deposit(d("2000"), "EUR", "cf-2", now, buckets=s.buckets,
                            values_eur=values, satellite_budget=d("0.20"),
                            eur_per_unit=d("1"))
    # N = 9656.84 + 2000 = 11656.84; core needs 0.8·N − 7997.50 = 1327.972 → 1327.97;
    # div's deficit 0.1·N − 1011.34 = 154.344 → 154.34; the rest (517.69) to core.
    assert {r.bucket_id: r.amount for r in rows} == {"core": d("1845.66"), "div": d("154.34")}
    s.apply(rows, d("2000"))
    # The deposit shifts div's flow-adjusted high-water mark (1000 since step 1).
    assert s.buckets["div"].high_water_mark == d("1000") + d("154.34")
    s.check({"core": "3843.16", "mom": "198.00", "div": "665.68"})

    # 5. Prices recover to a 24.2 % drawdown (< 30 %): recover, re-awakening stage 1.
    now += DAY
    s.positions["mom"] = d("560")
    result = drawdown.maintain(s.buckets["mom"], s.value("mom"), now)
    assert result.events == ("recovered",) and s.value("mom") == d("758.00")
    s.buckets["mom"] = result.bucket
    assert s.buckets["mom"].status == "active"
    assert reawakening_multiplier(s.buckets["mom"].reawakening) == d("0.25")

    # 6. Closed trades: win, loss (back to stage 1), then three wins complete it.
    pnls = ["15", "-5", "10", "12", "8"]
    stages = [2, 1, 2, 3, 0]
    expected_cash = d("198.00")
    for i, (pnl, stage) in enumerate(zip(pnls, stages, strict=True)):
        now += DAY
        proceeds = d("100.00") + d(pnl)
        s.apply(balances.settle_trade("mom", proceeds, "EUR", "sell", f"S-{i}", now),
                proceeds)
        s.positions["mom"] -= d("100")
        expected_cash += proceeds
        outcome = drawdown.record_trade_result(s.buckets["mom"], d(pnl), now)
        assert not outcome.paused
        s.buckets["mom"] = outcome.bucket
        assert s.buckets["mom"].reawakening.stage == stage
        s.check({"core": "3843.16", "mom": str(expected_cash), "div": "665.68"})
    assert s.buckets["mom"].reawakening.trades == 5
    assert reawakening_multiplier(s.buckets["mom"].reawakening) == 1
    assert s.cash()["mom"] == d("738.00") and s.positions["mom"] == d("60")

    # 7. Effective aggression with the cooldown off equals the plain aggression again.
    agg = aggression.calculate(s.value("mom"), s.buckets["mom"].target_pct, s.total(),
                               s.buckets["mom"].high_water_mark)
    eff = aggression.effective(agg.aggression,
                               reawakening_multiplier(s.buckets["mom"].reawakening), d("1"))
    assert eff == agg.aggression > 0
    # Broker cash matches the ledger to the cent after everything.
    assert s.broker == sum(s.cash().values()) == d("5246.84")
