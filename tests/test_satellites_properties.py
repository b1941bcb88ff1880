"""Money invariants 1, 2, 4, 5 and 8 (docs/architecture.md) over generated event sequences.

Each example drives a core and three satellites through deposits, withdrawals, trades,
fees, dividends, transfers, reallocations, target changes, meta-allocations and status
changes, while a model broker account moves its own cash. Unrecorded broker-side drift
is injected too, so reconciliation has real gaps to correct or report.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from arduino_trader.domain.cash_flows.pro_rata import split_pro_rata
from arduino_trader.domain.satellites import (
    balances,
    drawdown,
    lifecycle,
    meta_allocator,
    reconciliation,
    targets,
)
from arduino_trader.domain.satellites.dividend_router import dividend_entries, income_shares
from arduino_trader.protocols.satellite_records import (
    AllocationSettings,
    Bucket,
    LedgerEntry,
    SatelliteError,
    SatelliteSettings,
)
from tests.satellites_helpers import T0, core, d, satellite

RATES = {"EUR": Decimal(1), "USD": d("0.9")}
SATS = ("a", "b", "c")
BUCKET_IDS = ("core", *SATS)
CCYS = ("EUR", "USD")
ZERO = Decimal(0)

amounts = st.decimals(min_value=d("0.01"), max_value=d("5000"), places=2)
costs = st.decimals(min_value=d("0.01"), max_value=d("500"), places=2)
fractions = st.decimals(min_value=d("0.01"), max_value=d("1.2"), places=2)
small = st.decimals(min_value=d("-20"), max_value=d("20"), places=2)
bucket = st.sampled_from(BUCKET_IDS)
ccy = st.sampled_from(CCYS)
events = st.one_of(
    st.tuples(st.just("deposit"), amounts, ccy),
    st.tuples(st.just("withdrawal"), costs, ccy),
    st.tuples(st.just("trade"), bucket, st.sampled_from(["buy", "sell"]), costs, ccy),
    st.tuples(st.just("fee"), st.one_of(st.none(), bucket), costs, ccy),
    st.tuples(st.just("dividend"), st.sampled_from([*BUCKET_IDS, "ghost"]), amounts, ccy),
    st.tuples(st.just("transfer"), bucket, bucket, fractions, ccy),
    st.tuples(st.just("reallocate"), bucket, bucket, fractions, ccy),
    st.tuples(st.just("status"), st.sampled_from(SATS),
              st.sampled_from(["activate", "pause", "resume", "hibernate", "recover",
                               "retire"])),
    st.tuples(st.just("target"), st.sampled_from(SATS),
              st.decimals(min_value=0, max_value=d("0.2"), places=3)),
    st.tuples(st.just("meta"), st.lists(st.floats(-3, 3), min_size=3, max_size=3)),
    st.tuples(st.just("drift"), ccy, small),
    st.tuples(st.just("replay"), st.integers(min_value=0, max_value=1000)),
    st.tuples(st.just("result"), st.sampled_from(SATS), small),
    st.tuples(st.just("maintain"), st.sampled_from(SATS),
              st.decimals(min_value=0, max_value=d("3000"), places=2)),
)


@dataclass
class World:
    """The ledger, the buckets and the model broker."""

    buckets: dict[str, Bucket]
    book: balances.BalanceBook = field(default_factory=balances.BalanceBook)
    broker: dict[str, Decimal] = field(default_factory=lambda: dict.fromkeys(CCYS, ZERO))
    drift: dict[str, Decimal] = field(default_factory=lambda: dict.fromkeys(CCYS, ZERO))
    applied: list[tuple[LedgerEntry, ...]] = field(default_factory=list)
    cfg: AllocationSettings = field(
        default_factory=lambda: AllocationSettings(satellite_budget_pct=d("0.2")))
    handling: dict[str, SatelliteSettings] = field(default_factory=lambda: {
        "a": SatelliteSettings("a", dividend_handling="send_to_core"),
        "b": SatelliteSettings("b", dividend_handling="accumulate_cash")})
    n: int = 0

    def value_eur(self, bucket_id: str) -> Decimal:
        return sum((v * RATES[c] for c, v in self.book.balances_of(bucket_id).items()), ZERO)

    def apply(self, rows: tuple[LedgerEntry, ...]) -> None:
        self.book, done = self.book.apply(rows)
        if done:
            self.applied.append(done)


def _world() -> World:
    sats = [satellite("a", "accumulating", target="0.05"),
            satellite("b", "research", target="0"),
            satellite("c", "active", target="0.1")]
    w = World(targets.with_core_target({"core": core(), **{s.id: s for s in sats}}, T0))
    for b in BUCKET_IDS:  # opening cash everywhere, so internal moves have something to move
        for c in CCYS:
            w.apply(balances.maturity(b, d("1000"), c, f"open-{b}-{c}", T0))
            w.broker[c] += d("1000")
    return w


def _step(w: World, event: tuple[Any, ...]) -> None:
    w.n += 1
    now = T0 + timedelta(hours=w.n)
    sid = f"e{w.n}"
    kind = event[0]
    before = w.book
    if kind == "deposit":
        _, amount, c = event
        rows = balances.deposit(amount, c, sid, now, buckets=w.buckets,
                                values_eur={b: w.value_eur(b) for b in w.buckets},
                                satellite_budget=w.cfg.satellite_budget_pct,
                                eur_per_unit=RATES[c])
        assert sum(r.amount for r in rows) == amount  # invariant 4
        w.apply(rows)
        w.broker[c] += amount
    elif kind == "withdrawal":
        _, amount, c = event
        rows = balances.withdrawal(amount, c, sid, now)
        assert sum(r.amount for r in rows) == -amount  # invariant 4
        w.apply(rows)
        w.broker[c] -= amount
    elif kind == "trade":
        _, b, side, amount, c = event
        if not w.buckets[b].trading_allowed:
            return
        w.apply(balances.settle_trade(b, amount, c, side, sid, now))
        w.broker[c] += amount if side == "sell" else -amount
    elif kind == "fee":
        _, b, amount, c = event
        w.apply(balances.fee(amount, c, sid, now, trade_bucket_id=b))
        w.broker[c] -= amount
    elif kind == "dividend":
        _, owner, amount, c = event
        shares = income_shares({owner: {"SYM": Decimal(1)}}, w.buckets, w.handling)["SYM"]
        entries = dividend_entries(split_pro_rata(amount, shares), c, "SYM", sid, now)
        assert sum(e.amount for e in entries) == amount
        w.apply(entries)
        w.broker[c] += amount
    elif kind in ("transfer", "reallocate"):
        _, src, dst, fraction, c = event
        # A share of what the source holds: sometimes more than it has.
        amount = max(d("0.01"), (w.book.balance(src, c) * fraction).quantize(d("0.01")))
        try:
            if kind == "transfer":
                total = sum((w.value_eur(b) for b in w.buckets), ZERO)
                floor = balances.CoreFloor(w.value_eur("core"), total,
                                           w.cfg.satellite_budget_pct, RATES[c])
                rows = balances.transfer(w.book, w.buckets, src, dst, amount, c, sid, now,
                                         core_floor=floor)
            else:
                rows = balances.reallocate(w.book, w.buckets, src, dst, amount, c, sid, now)
        except SatelliteError:
            assert w.book is before  # a refusal writes nothing
            return
        assert sum(r.amount for r in rows) == 0  # invariant 4: zero-sum
        w.apply(rows)
        assert w.book.balance(src, c) >= 0  # invariant 5
    elif kind == "status":
        _, b, name = event
        current = w.buckets[b]
        try:
            if name == "retire":
                if current.status not in ("paused", "retired"):
                    current = lifecycle.pause(current, now)  # the operator pauses first
                if current.status == "paused":  # and drains its cash to core
                    for c, held in w.book.balances_of(b).items():
                        if held > 0:
                            w.apply(balances.reallocate(w.book, w.buckets, b, "core", held, c,
                                                        f"{sid}-{c}", now))
                new = lifecycle.retire(current, now, cash=w.book.balances_of(b),
                                       open_positions=0)
            else:
                new = getattr(lifecycle, name)(current, now)
        except SatelliteError:
            return
        w.buckets = targets.with_core_target({**w.buckets, b: new}, now)
    elif kind == "target":
        _, b, value = event
        try:
            w.buckets = targets.update_bucket(w.buckets, b, now,
                                              budget=w.cfg.satellite_budget_pct,
                                              target_pct=value)
        except SatelliteError:
            return
    elif kind == "meta":
        scores = dict(zip(SATS, event[1], strict=True))
        try:
            plan = meta_allocator.plan_allocation(w.buckets, scores, w.cfg, now)
            w.buckets = meta_allocator.apply_plan(w.buckets, plan, w.cfg, now)
        except meta_allocator.AllocationInfeasible:
            return
    elif kind == "drift":
        _, c, amount = event
        w.broker[c] += amount  # broker-side change the ledger never heard of
        w.drift[c] += amount
    elif kind == "result":
        _, b, pnl = event
        w.buckets[b] = drawdown.record_trade_result(w.buckets[b], pnl, now).bucket
    elif kind == "maintain":
        _, b, positions_eur = event
        value = positions_eur + w.value_eur(b)
        w.buckets[b] = drawdown.maintain(w.buckets[b], value, now).bucket
    elif kind == "replay":
        if w.applied:
            rows = w.applied[event[1] % len(w.applied)]
            w.book, done = w.book.apply(rows)
            assert done == () and w.book is before  # re-processing changes nothing


def _check(w: World) -> None:
    # Invariant 1: every balance is the sum of its ledger rows.
    for (b, c), value in w.book.balances().items():
        assert value == w.book.ledger_sum(b, c)
    # Recorded flows keep the ledger exactly on the broker, up to the injected drift.
    for c in CCYS:
        assert w.book.currency_total(c) - w.broker[c] == -w.drift[c]
    # Invariant 8: core + Σ satellites = 1, each satellite 0 or within its bounds.
    assert targets.target_violations(w.buckets, w.cfg.satellite_budget_pct) == []


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(events, max_size=60))
def test_invariants_hold_over_event_sequences(sequence: list[tuple[Any, ...]]) -> None:
    w = _world()
    for event in sequence:
        _step(w, event)
        _check(w)
    # Invariant 2: after reconciliation each currency's buckets sum to broker cash, or
    # the gap is reported and nothing absorbed it.
    end = T0 + timedelta(days=30)
    for c in reconciliation.currencies_to_check(w.broker, w.book):
        before = w.book
        outcome = reconciliation.reconcile(w.book, c, w.broker[c], end,
                                           eur_per_unit=RATES[c])
        gap_eur = abs(w.drift[c]) * RATES[c]
        if outcome.status == "corrected":
            assert gap_eur <= 5
            w.apply(outcome.entries)
            assert reconciliation.check(w.book, c, w.broker[c], end).is_reconciled
            assert all(e.bucket_id == "core" and e.type == "reconciliation"
                       for e in outcome.entries)
        elif outcome.status == "gap_reported":
            assert gap_eur > 5 and outcome.entries == () and w.book is before
        else:
            assert outcome.status == "reconciled" and w.drift[c] == 0
    for (b, c), value in w.book.balances().items():
        assert value == w.book.ledger_sum(b, c)
