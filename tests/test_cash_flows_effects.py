"""Exactly-once effects of broker cash-flow records (money invariants 3-4 of
docs/architecture.md), incl. properties
over generated syncs with duplicates, re-syncs, crashes mid-sync, status changes and
FX moves."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from arduino_trader.domain.cash_flows.deposit_split import BucketShare
from arduino_trader.domain.cash_flows.effects import EffectContext, apply_record, is_unchanged
from arduino_trader.domain.cash_flows.fx import MissingRate, RateTable
from arduino_trader.domain.cash_flows.normalise import normalise
from arduino_trader.protocols.cash_flow_store import (
    CashFlowRecord,
    DividendRow,
    Effects,
    LedgerEntry,
    NeedsReview,
    SeenFlow,
)
from arduino_trader.protocols.cash_flows import (
    DepositReceived,
    DividendReceived,
    WithdrawalRecorded,
)

D = Decimal
DAYS = [date(2026, 3, d) for d in range(2, 7)]


def _rates(usd: str = "0.9") -> RateTable:
    return RateTable(by_date={("USD", d): D(usd) for d in DAYS})


def _ctx(usd: str = "0.9", **kw: object) -> EffectContext:
    buckets = (BucketShare("core", "core", D("0.9"), D(0)),
               BucketShare("sat", "satellite", D("0.1"), D(0)))
    fields: dict[str, object] = {"income_shares": {"KO.US": (("sat", D("1")),)}} | kw
    return EffectContext(rates=_rates(usd), buckets=buckets, satellite_budget=D("0.1"),
                         **fields)  # type: ignore[arg-type]


@dataclass
class FakeStore:
    """The actor's writes, with the schema's UNIQUE constraints as assertions."""

    rows: dict[str, dict[str, object]] = field(default_factory=dict)
    ledger: dict[tuple[str, str, str, str], LedgerEntry] = field(default_factory=dict)
    dividends: dict[tuple[str, str], DividendRow] = field(default_factory=dict)
    events: list[object] = field(default_factory=list)

    def seen(self, key: str) -> SeenFlow | None:
        row = self.rows.get(key)
        if row is None:
            return None
        amount = row["amount"]
        assert isinstance(amount, Decimal)
        return SeenFlow(str(row["status"]), bool(row["processed"]), amount,
                        str(row["currency"]))

    def write(self, eff: Effects, key: str) -> None:
        if eff.action == "insert":
            assert eff.row is not None and key not in self.rows  # UNIQUE(transaction_id)
            self.rows[key] = {"status": eff.status, "processed": False,
                              "amount_eur": eff.row.amount_eur,
                              "amount": eff.row.record.amount,
                              "currency": eff.row.record.currency}
        elif eff.action == "update_status":
            self.rows[key]["status"] = eff.status
        if eff.mark_processed:
            assert not self.rows[key]["processed"]
            self.rows[key]["processed"] = True
        for entry in eff.ledger:
            unique = (entry.source_kind, entry.source_id, entry.bucket_id, entry.type)
            assert unique not in self.ledger  # UNIQUE(source_kind, source_id, bucket, type)
            self.ledger[unique] = entry
        for dividend in eff.dividends:
            unique_row = (dividend.cash_flow_key, dividend.bucket_id)
            assert unique_row not in self.dividends  # UNIQUE(cash_flow_id, bucket_id)
            self.dividends[unique_row] = dividend
        self.events.extend(eff.events)

    def sync(self, records: list[CashFlowRecord], ctx: EffectContext) -> list[Effects]:
        out = []
        for rec in records:
            eff = apply_record(self.seen(rec.key), rec, ctx)
            self.write(eff, rec.key)
            out.append(eff)
        return out

    def snapshot(self) -> tuple[object, ...]:
        return (repr(sorted(self.rows.items())), repr(sorted(self.ledger.items())),
                repr(sorted(self.dividends.items())))


def _ucf(rid: int, code: str, amount: str, ccy: str = "EUR", day: int = 0,
         symbol: str = "") -> CashFlowRecord:
    row = {"id": rid, "type_code": code, "sum": amount, "currency": ccy,
           "date": DAYS[day].isoformat(), "symbol": symbol}
    (rec,) = normalise("user_cash_flow", [row]).records
    return rec


def _cps(rid: int, status: int, amount: str = "100", ccy: str = "EUR") -> CashFlowRecord:
    row = {"id": rid, "type_doc_id": 337, "date_crt": DAYS[0].isoformat(), "status_c": status,
           "params": {"totalMoneyOut": amount, "currency": ccy}}
    return normalise("cps", [row]).records[0]


def test_deposit_is_split_and_announced_once() -> None:
    store = FakeStore()
    dep = _ucf(1, "card", "1000")
    (eff,) = store.sync([dep], _ctx())
    assert eff.action == "insert" and eff.mark_processed
    assert [(e.bucket_id, e.amount, e.currency, e.type) for e in eff.ledger] == [
        ("core", D("900.00"), "EUR", "deposit"), ("sat", D("100.00"), "EUR", "deposit")]
    assert eff.events == (DepositReceived("ucf:1", D("1000.00"), "EUR", D("1000.00"),
                                          DAYS[0], (("core", D("900.00")),
                                                    ("sat", D("100.00")))),)
    before = store.snapshot()
    (again,) = store.sync([dep], _ctx())
    assert again == Effects("none") and store.snapshot() == before


def test_foreign_deposit_keeps_its_currency_and_eur_at_record_date() -> None:
    """Seed bug 1: never pair the EUR-converted number with the original code."""
    store = FakeStore()
    (eff,) = store.sync([_ucf(2, "card", "100", "USD", day=1)], _ctx("0.925"))
    assert eff.row is not None and eff.row.amount_eur == D("92.50")
    assert {e.currency for e in eff.ledger} == {"USD"}
    assert sum(e.amount for e in eff.ledger) == D("100.00")


def test_missing_rate_raises_and_stores_nothing() -> None:
    store = FakeStore()
    with pytest.raises(MissingRate):
        store.sync([_ucf(3, "card", "100", "GBP")], _ctx())
    assert store.rows == {} and store.ledger == {}


def test_withdrawal_pending_then_completed_is_one_row_one_debit() -> None:
    store = FakeStore()
    (first,) = store.sync([_cps(10, 1)], _ctx())
    assert first.action == "insert" and not first.mark_processed and first.ledger == ()
    (second,) = store.sync([_cps(10, 3)], _ctx())
    assert second.action == "update_status" and second.mark_processed
    assert [(e.bucket_id, e.amount, e.type) for e in second.ledger] == [
        ("core", D("-100.00"), "withdrawal")]
    assert second.events == (WithdrawalRecorded("cps:10", D("-100.00"), "EUR",
                                                D("-100.00"), DAYS[0]),)
    assert len(store.rows) == 1 and store.sync([_cps(10, 3)], _ctx()) == [Effects("none")]


def test_rejected_withdrawal_never_moves_money() -> None:
    store = FakeStore()
    store.sync([_cps(11, 1), _cps(11, 2), _cps(11, 2)], _ctx())
    assert store.ledger == {} and store.rows["cps:11"]["status"] == "rejected"


def test_completed_then_reversed_is_reported_not_undone() -> None:
    store = FakeStore()
    store.sync([_cps(12, 3)], _ctx())
    (eff,) = store.sync([_cps(12, 2)], _ctx())
    assert eff.action == "update_status" and eff.ledger == ()
    assert isinstance(eff.events[0], NeedsReview)
    assert len(store.ledger) == 1


def test_dividend_is_routed_and_recorded_once() -> None:
    store = FakeStore()
    (eff,) = store.sync([_ucf(20, "dividend", "3.10", "USD", symbol="KO.US")], _ctx())
    assert [(e.bucket_id, e.type, e.amount) for e in eff.ledger] == [
        ("sat", "dividend", D("3.10"))]
    assert eff.dividends == (DividendRow("ucf:20", "KO.US", "", D("3.10"), "USD", D("2.79"),
                                         DAYS[0], "sat"),)
    assert isinstance(eff.events[0], DividendReceived)


def test_dividend_without_symbol_credits_core_and_is_flagged() -> None:
    (eff,) = FakeStore().sync([_ucf(21, "dividend", "5")], _ctx())
    assert eff.dividends == () and eff.ledger[0].bucket_id == "core"
    assert any(isinstance(e, NeedsReview) for e in eff.events)


def test_shadowed_sources_and_trade_fees_never_double_count() -> None:
    corp = normalise("corporate_action", [{
        "id": 5, "type": "dividend", "executed": True, "amount_per_one": "1",
        "executed_count": 3, "currency": "USD", "pay_date": DAYS[0].isoformat(),
        "ticker": "KO.US"}]).records[0]
    (fee,) = normalise("user_cash_flow", [{
        "id": 9, "type_code": "commission_for_trades", "sum": "-2", "currency": "EUR",
        "date": DAYS[0].isoformat(), "comment": "(Trade 1515 2026-03-02 12:21:35)"}]).records
    assert fee.kind == "trading_fee"
    payout = _ucf(30, "card_payout", "-100")
    store = FakeStore()
    effs = store.sync([corp, fee, payout], _ctx())
    assert all(e.action == "insert" and e.mark_processed and e.ledger == () for e in effs)
    assert store.ledger == {}


def test_unclassified_type_is_stored_and_flagged() -> None:
    row = {"id": 40, "type_doc_id": 12, "date_crt": DAYS[0].isoformat(), "status_c": 3,
           "params": {"totalMoneyIn": "10", "currency": "EUR"}}
    (eff,) = FakeStore().sync(list(normalise("cps", [row]).records), _ctx())
    assert eff.ledger == () and isinstance(eff.events[0], NeedsReview)


def test_fees_and_taxes_debit_core() -> None:
    store = FakeStore()
    store.sync([_ucf(50, "tax", "-0.47", "USD"), _ucf(51, "fee", "-1")], _ctx())
    assert {(e.bucket_id, e.type, e.amount) for e in store.ledger.values()} == {
        ("core", "fee", D("-0.47")), ("core", "fee", D("-1.00"))}


def test_withholding_tax_on_a_dividend_hits_the_dividends_bucket() -> None:
    store = FakeStore()
    store.sync([_ucf(60, "dividend", "10", "USD", symbol="KO.US"),
                _ucf(61, "tax", "-1.50", "USD", symbol="KO.US")], _ctx())
    sat = [e.amount for e in store.ledger.values() if e.bucket_id == "sat"]
    assert sorted(sat) == [D("-1.50"), D("10.00")]


def test_a_dividend_of_a_shared_position_is_split_by_the_shares_each_bucket_holds() -> None:
    """Core holds 99 shares, a satellite 1: the satellite gets 1 % of the dividend and
    bears 1 % of its withholding tax, never the whole of either."""
    store = FakeStore()
    ctx = _ctx(income_shares={"KO.US": (("core", D("99")), ("s1", D("1")))})
    (div, tax) = store.sync([_ucf(70, "dividend", "100", "USD", symbol="KO.US"),
                             _ucf(71, "tax", "-15", "USD", symbol="KO.US")], ctx)
    assert [(e.bucket_id, e.amount) for e in div.ledger] == [
        ("core", D("99.00")), ("s1", D("1.00"))]
    assert [(e.bucket_id, e.amount) for e in tax.ledger] == [
        ("core", D("-14.85")), ("s1", D("-0.15"))]
    assert [(d.bucket_id, d.amount, d.amount_eur) for d in div.dividends] == [
        ("core", D("99.00"), D("89.10")), ("s1", D("1.00"), D("0.90"))]
    (event,) = div.events
    assert isinstance(event, DividendReceived)
    assert event.allocations == (("core", D("99.00")), ("s1", D("1.00")))


def test_a_split_that_does_not_divide_gives_the_cent_to_the_largest_holder() -> None:
    store = FakeStore()
    ctx = _ctx(income_shares={"KO.US": (("a", D("1")), ("b", D("2")), ("c", D("1")))})
    (div,) = store.sync([_ucf(72, "dividend", "10.01", "USD", symbol="KO.US")], ctx)
    assert [(e.bucket_id, e.amount) for e in div.ledger] == [
        ("a", D("2.50")), ("b", D("5.01")), ("c", D("2.50"))]


def test_a_maturity_of_a_shared_position_is_split_over_its_holders() -> None:
    maturity = normalise("corporate_action", [{
        "id": 8, "type": "maturity", "executed": True, "amount_per_one": "1000",
        "executed_count": 4, "currency": "EUR", "pay_date": DAYS[0].isoformat(),
        "ticker": "BOND.EU"}]).records
    if not maturity or maturity[0].kind != "maturity":
        pytest.fail(f"the corporate action did not normalise to a maturity: {maturity}")
    ctx = _ctx(maturity_shares={"BOND.EU": (("core", D("3")), ("s1", D("1")))})
    (eff,) = FakeStore().sync(maturity, ctx)
    assert [(e.bucket_id, e.type, e.amount) for e in eff.ledger] == [
        ("core", "maturity", D("3000.00")), ("s1", "maturity", D("1000.00"))]


# ------------------------------------------------------------------------ properties
@st.composite
def _broker_history(draw: st.DrawFn) -> tuple[list[list[CashFlowRecord]], dict[str, object]]:
    """A pool of broker records with status paths, observed over several syncs."""
    n_syncs = draw(st.integers(2, 6))
    pool: list[list[CashFlowRecord]] = []  # per record: its version at each sync
    for i in range(draw(st.integers(1, 10))):
        kind = draw(st.sampled_from(["deposit", "withdrawal", "dividend", "fee", "nokey"]))
        amount = str(draw(st.decimals(D("0.01"), D("50000"), places=2)))
        ccy = draw(st.sampled_from(["EUR", "USD"]))
        if kind == "withdrawal":
            pending = draw(st.integers(0, n_syncs))
            end_status = draw(st.sampled_from([3, 3, 2]))  # completed or rejected
            pool.append([_cps(100 + i, 1 if t < pending else end_status, amount, ccy)
                         for t in range(n_syncs + 1)])
        elif kind == "nokey":
            row = {"type_doc_id": 337, "date_crt": DAYS[1].isoformat(), "status_c": 3,
                   "params": {"totalMoneyOut": amount, "currency": ccy}}
            rec = normalise("cps", [row]).records[0]
            pool.append([rec] * (n_syncs + 1))
        else:
            code = {"deposit": "card", "dividend": "dividend", "fee": "fee"}[kind]
            signed = f"-{amount}" if kind == "fee" else amount
            flow = _ucf(100 + i, code, signed, ccy, day=i % len(DAYS),
                        symbol=draw(st.sampled_from(["", "KO.US", "SAP.EU"])))
            pool.append([flow] * (n_syncs + 1))
    syncs: list[list[CashFlowRecord]] = []
    for t in range(n_syncs):
        picks = draw(st.lists(st.integers(0, len(pool) - 1), max_size=3 * len(pool)))
        batch = [pool[p][t] for p in picks]
        crash_at = draw(st.integers(0, len(batch)))  # a crash ends the sync early
        syncs.append(batch[:crash_at])
    final = [versions[-1] for versions in pool]
    return [*syncs, final], {"final": final}


@settings(max_examples=200, deadline=None)
@given(history=_broker_history(), usd_moves=st.lists(st.sampled_from(["0.9", "0.95", "0.8"]),
                                                     min_size=8, max_size=8))
def test_each_record_counted_once_and_resync_changes_nothing(
        history: tuple[list[list[CashFlowRecord]], dict[str, object]],
        usd_moves: list[str]) -> None:
    syncs, meta = history
    final: list[CashFlowRecord] = meta["final"]  # type: ignore[assignment]
    store = FakeStore()
    for t, batch in enumerate(syncs):
        store.sync(batch, _ctx(usd_moves[t % len(usd_moves)]))
    # at most one row per key; a record's ledger rows sum to its amount iff it moved money
    assert set(store.rows) == {r.key for r in final}
    for rec in final:
        entries = [e for e in store.ledger.values() if e.source_id == rec.key]
        moves = rec.completed and rec.kind in ("deposit", "withdrawal", "dividend", "fee")
        assert sum((e.amount for e in entries), D(0)) == (rec.amount if moves else 0)
        assert all(e.currency == rec.currency for e in entries)
        assert store.rows[rec.key]["status"] == rec.status
        assert store.rows[rec.key]["amount"] == rec.amount
    assert len(store.dividends) <= sum(1 for r in final if r.kind == "dividend")
    announced = [e.key for e in store.events if isinstance(
        e, DepositReceived | DividendReceived | WithdrawalRecorded)]
    assert len(announced) == len(set(announced))
    # re-running any sync, even with other FX rates, changes nothing
    before = store.snapshot()
    for batch in syncs:
        assert all(e.action == "none" and not e.ledger
                   for e in store.sync(batch[::-1], _ctx("0.5")))
    assert store.snapshot() == before


@settings(max_examples=200, deadline=None)
@given(history=_broker_history())
def test_a_record_the_sync_skips_as_unchanged_is_one_that_would_change_nothing(
        history: tuple[list[list[CashFlowRecord]], dict[str, object]]) -> None:
    """The sync's fast path (no transaction for a known record) is exact: whenever
    ``is_unchanged`` holds, ``apply_record`` writes and reports nothing; and once every
    record was synced, a re-sync of the whole history takes the fast path throughout."""
    syncs, meta = history
    final: list[CashFlowRecord] = meta["final"]  # type: ignore[assignment]
    store = FakeStore()
    for batch in syncs:
        for rec in batch:
            seen = store.seen(rec.key)
            eff = apply_record(seen, rec, _ctx())
            if is_unchanged(seen, rec):
                assert (eff.action, eff.ledger, eff.dividends, eff.events,
                        eff.mark_processed) == ("none", (), (), (), False)
            store.write(eff, rec.key)
    assert all(is_unchanged(store.seen(rec.key), rec) for rec in final)


def test_only_a_stored_applied_record_with_the_same_facts_is_unchanged() -> None:
    dep = _ucf(1, "card", "100")
    assert not is_unchanged(None, dep)
    assert is_unchanged(SeenFlow(dep.status, True, D("100"), "EUR"), dep)
    assert not is_unchanged(SeenFlow(dep.status, False, D("100"), "EUR"), dep)  # unapplied
    assert not is_unchanged(SeenFlow(dep.status, True, D("101"), "EUR"), dep)  # reported
    assert not is_unchanged(SeenFlow(dep.status, True, D("100"), "USD"), dep)
    pending = _cps(2, 1)
    stored = SeenFlow(pending.status, False, pending.amount, "EUR")
    assert is_unchanged(stored, pending)  # waiting: nothing to apply yet
    assert not is_unchanged(stored, _cps(2, 3))  # now completed: the slow path applies it


# --------------------------------------------------------------------------- summary
def test_sync_counts_and_completed_only_summary() -> None:
    from arduino_trader.domain.cash_flows.summary import FlowRow, count_sync, summarise

    rows = [{"id": 1, "type_code": "card", "sum": "100", "currency": "EUR",
             "date": DAYS[0].isoformat()},
            {"id": 2, "type_code": "dividend", "sum": "3", "currency": "EUR",
             "date": DAYS[0].isoformat(), "symbol": "KO.US"},
            {"id": 3, "type_code": "nope", "sum": "3", "currency": "EUR",
             "date": DAYS[0].isoformat()}]
    batch = normalise("user_cash_flow", rows)
    store = FakeStore()
    effects = store.sync(list(batch.records), _ctx())
    counts = count_sync(batch, effects, len(rows))
    # the unknown type is held: stored without effect, counted for review, not rejected
    assert (counts.total_from_api, counts.synced, counts.deposits_processed,
            counts.dividends_created, counts.rejected, counts.needs_review) == (
        3, 3, 1, 1, 0, 1)
    summary = summarise([FlowRow("card", "deposit", "completed", D("100")),
                         FlowRow("withdrawal", "withdrawal", "completed", D("-40")),
                         FlowRow("withdrawal", "withdrawal", "pending", D("-500")),
                         FlowRow("tax", "tax", "completed", D("-1.5"))])
    assert (summary.total_transactions, summary.total_deposits_eur,
            summary.total_withdrawals_eur, summary.net_cash_flow_eur) == (
        3, D("100.00"), D("40.00"), D("58.50"))
    assert summary.by_type["withdrawal"] == (D("-40.00"), 1)


@pytest.mark.parametrize(("args", "ok"), [
    (("2026-01-01", "2026-02-01", None, None), True),
    (("2026-02-01", "2026-01-01", None, None), False),
    (("2026-01-01", None, None, None), False),
    (("2026-13-01", "2026-14-01", None, None), False),
    ((None, None, "withdrawal", "10000"), True),
    ((None, None, None, "0"), False),
    ((None, None, None, "10001"), False),
    ((None, None, None, "x"), False),
])
def test_list_query_validation(args: tuple[str | None, ...], ok: bool) -> None:
    from arduino_trader.domain.cash_flows.summary import QueryError, list_query

    if ok:
        list_query(*args)
    else:
        with pytest.raises(QueryError):
            list_query(*args)


def test_changed_money_facts_under_a_known_key_are_reported_not_applied() -> None:
    seen = SeenFlow("pending", False, D("-100.00"), "EUR")
    eff = apply_record(seen, _cps(70, 3, amount="120"), _ctx())
    assert eff.action == "none" and eff.ledger == () and isinstance(eff.events[0], NeedsReview)
    ok = apply_record(seen, _cps(70, 3, amount="100"), _ctx())
    assert ok.action == "update_status" and ok.ledger


def test_a_failing_source_contributes_nothing_and_is_reported() -> None:
    from arduino_trader.domain.cash_flows.normalise import normalise_sources

    rows = [{"id": 1, "type_code": "card", "sum": "10", "currency": "EUR",
             "date": DAYS[0].isoformat()}]
    batch, failures = normalise_sources({"user_cash_flow": rows,
                                         "cps": TimeoutError("broker down")})
    assert [r.key for r in batch.records] == ["ucf:1"]
    assert [(f.source, "TimeoutError" in f.error) for f in failures] == [("cps", True)]


def test_duplicates_within_one_answer() -> None:
    row = {"id": 1, "type_code": "card", "sum": "10", "currency": "EUR",
           "date": DAYS[0].isoformat()}
    out = normalise("user_cash_flow", [row, dict(row), {**row, "sum": "11"}])
    assert len(out.records) == 1 and out.records[0].amount == D("10.00")
    (rej,) = out.rejections
    assert "conflicting duplicate" in rej.reason
