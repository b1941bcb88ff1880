"""The signed ledger, transfers and their refusals, deposits, the dividend router,
reconciliation and the target/budget rules."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest

from arduino_trader.domain.satellites import balances, reconciliation, targets
from arduino_trader.domain.satellites.balances import (
    BadAmount,
    BalanceBook,
    BalanceError,
    CoreFloor,
    CoreFloorBreached,
    InsufficientFunds,
    UnknownBucket,
)
from arduino_trader.domain.satellites.dividend_router import (
    destination,
    dividend_entries,
    holder_shares,
    income_shares,
)
from arduino_trader.protocols.satellite_records import (
    ALLOCATION_DEFAULTS,
    AllocationSettings,
    Bucket,
    InvalidBucket,
    SatelliteSettings,
)
from tests.satellites_helpers import T0, core, d, satellite


def _buckets(*extra: Bucket) -> dict[str, Bucket]:
    out = {"core": core()}
    out.update({b.id: b for b in extra})
    return targets.with_core_target(out, T0)


def _book(*rows: tuple[str, str, str]) -> BalanceBook:
    entries = []
    for i, (bucket_id, amount, ccy) in enumerate(rows):
        entries.extend(balances.maturity(bucket_id, d(amount), ccy, f"seed{i}", T0))
    return BalanceBook.from_entries(entries)


# ------------------------------------------------------------------ the book
def test_balance_is_the_sum_of_entries_and_reprocessing_is_a_no_op() -> None:
    book = BalanceBook()
    rows = balances.settle_trade("core", d("100.004"), "EUR", "sell", "T1", T0)
    book, applied = book.apply(rows)
    assert applied == rows and book.balance("core", "EUR") == d("100.00")
    again, applied = book.apply(balances.settle_trade("core", d("100"), "EUR", "sell", "T1",
                                                      T0))
    assert applied == () and again is book
    book, _ = book.apply(balances.settle_trade("core", d("30"), "EUR", "buy", "T2", T0))
    assert book.balance("core", "EUR") == d("70.00") == book.ledger_sum("core", "EUR")


def test_partly_applied_sets_and_duplicate_keys_are_errors() -> None:
    buckets = _buckets(satellite())
    book = _book(("core", "100", "EUR"))
    rows = balances.reallocate(book, buckets, "core", "sat1", d("10"), "EUR", "r1", T0)
    book, _ = book.apply(rows[:1], check_negative=False)
    with pytest.raises(BalanceError, match="partly"):
        book.apply(rows)
    with pytest.raises(BalanceError, match="twice"):
        BalanceBook().apply(rows[:1] * 2)


def test_external_flows_hit_the_right_bucket() -> None:
    assert balances.withdrawal(d("50"), "EUR", "cf1", T0)[0].amount == d("-50")
    assert balances.withdrawal(d("50"), "EUR", "cf1", T0)[0].bucket_id == "core"
    trading = balances.fee(d("1.5"), "USD", "cf2", T0, trade_bucket_id="sat1")[0]
    assert (trading.bucket_id, trading.amount, trading.type) == ("sat1", d("-1.5"), "fee")
    assert balances.fee(d("2"), "EUR", "cf3", T0)[0].bucket_id == "core"
    assert balances.credit_dividend("sat1", d("3"), "USD", "dv1", T0)[0].amount == d("3")
    for bad in (d("0"), d("-1"), Decimal("NaN")):
        with pytest.raises(BadAmount):
            balances.withdrawal(bad, "EUR", "cf", T0)


def test_an_exchange_is_one_debit_and_one_credit_under_the_trade_key() -> None:
    paid, got = balances.settle_exchange("sat1", {"EUR": d("-100"), "USD": d("108.4876")},
                                         "live:9", "EUR/USD", T0)
    assert (paid.currency, paid.amount, paid.type) == ("EUR", d("-100"), "trade_buy")
    assert (got.currency, got.amount, got.type) == ("USD", d("108.49"), "trade_sell")
    assert {paid.source_id, got.source_id} == {"live:9"} and got.bucket_id == "sat1"
    for legs in ({"EUR": d("-1"), "USD": d("-1")}, {"EUR": d("1"), "USD": d("1")},
                 {"EUR": d("1")}, {"EUR": d("0"), "USD": d("1")}):
        with pytest.raises(BadAmount):
            balances.settle_exchange("core", legs, "live:10", "EUR/USD", T0)


# ------------------------------------------------------------------ transfers
def test_transfer_is_zero_sum_and_refusals_change_nothing() -> None:
    buckets = _buckets(satellite("sat1"), satellite("sat2"),
                       satellite("old", status="retired", target="0"))
    book = _book(("sat1", "100", "EUR"))
    rows = balances.transfer(book, buckets, "sat1", "sat2", d("40"), "EUR", "x1", T0)
    assert [r.type for r in rows] == ["transfer_out", "transfer_in"]
    assert sum(r.amount for r in rows) == 0
    book2, _ = book.apply(rows)
    assert book2.balance("sat1", "EUR") == d("60") and book2.balance("sat2", "EUR") == d("40")
    with pytest.raises(InsufficientFunds):
        balances.transfer(book, buckets, "sat1", "sat2", d("100.01"), "EUR", "x2", T0)
    with pytest.raises(InsufficientFunds):  # no USD at all
        balances.transfer(book, buckets, "sat1", "sat2", d("1"), "USD", "x2", T0)
    with pytest.raises(BalanceError, match="same bucket"):
        balances.transfer(book, buckets, "sat1", "sat1", d("1"), "EUR", "x2", T0)
    with pytest.raises(UnknownBucket):
        balances.transfer(book, buckets, "sat1", "nope", d("1"), "EUR", "x2", T0)
    with pytest.raises(BalanceError, match="retired"):
        balances.transfer(book, buckets, "sat1", "old", d("1"), "EUR", "x2", T0)
    with pytest.raises(BadAmount):
        balances.transfer(book, buckets, "sat1", "sat2", d("0.001"), "EUR", "x2", T0)


def test_transfer_out_of_core_keeps_the_core_floor() -> None:
    buckets = _buckets(satellite())
    book = _book(("core", "1000", "EUR"))
    floor = CoreFloor(core_value_eur=d("1000"), total_value_eur=d("1000"),
                      satellite_budget=d("0.10"), eur_per_unit=d("1"))
    ok = balances.transfer(book, buckets, "core", "sat1", d("100"), "EUR", "t1", T0,
                           core_floor=floor)
    assert ok[1].amount == d("100")
    with pytest.raises(CoreFloorBreached):
        balances.transfer(book, buckets, "core", "sat1", d("100.01"), "EUR", "t2", T0,
                          core_floor=floor)
    with pytest.raises(BalanceError, match="core floor"):
        balances.transfer(book, buckets, "core", "sat1", d("1"), "EUR", "t3", T0)
    # A reallocation has no core floor.
    rows = balances.reallocate(book, buckets, "core", "sat1", d("500"), "EUR", "r1", T0)
    assert {r.type for r in rows} == {"reallocation"} and sum(r.amount for r in rows) == 0


def test_book_refuses_internal_moves_into_negative() -> None:
    buckets = _buckets(satellite())
    book = _book(("core", "10", "EUR"))
    rows = balances.reallocate(book, buckets, "core", "sat1", d("10"), "EUR", "r1", T0)
    drained, _ = book.apply(rows)
    # The same move again (built against the old book) must fail inside the book.
    replay = tuple(replace(r, source_id="r2") for r in rows)
    with pytest.raises(InsufficientFunds):
        drained.apply(replay)
    assert drained.balance("core", "EUR") == 0 and drained.balance("sat1", "EUR") == d("10")


# ------------------------------------------------------------------ deposits
def test_deposit_uses_the_deficit_first_split_exactly() -> None:
    buckets = _buckets(satellite("a", target="0.10"), satellite("b", target="0.10"))
    rows = balances.deposit(d("1000"), "EUR", "cf9", T0, buckets=buckets, values_eur={},
                            satellite_budget=d("0.2"), eur_per_unit=d("1"))
    assert {r.bucket_id: r.amount for r in rows} == {"core": d("800"), "a": d("100"),
                                                     "b": d("100")}
    assert all(r.type == "deposit" and r.source_id == "cf9" for r in rows)
    with pytest.raises(BadAmount):
        balances.deposit(d("10.001"), "EUR", "cf", T0, buckets=buckets, values_eur={},
                         satellite_budget=d("0.2"), eur_per_unit=d("1"))
    with pytest.raises(BalanceError):
        balances.deposit(d("10"), "USD", "cf", T0, buckets=buckets, values_eur={},
                         satellite_budget=d("0.2"), eur_per_unit=d("0"))


# ------------------------------------------------------------------ dividends
def test_dividend_router() -> None:
    buckets = _buckets(satellite("keep"), satellite("send"), satellite("bare"))
    settings = {"keep": SatelliteSettings("keep", dividend_handling="accumulate_cash"),
                "send": SatelliteSettings("send", dividend_handling="send_to_core")}
    assert destination("keep", buckets, settings) == ("keep", "accumulate_cash")
    assert destination("send", buckets, settings) == ("core", "send_to_core")
    assert destination("bare", buckets, settings) == ("core", "send_to_core")  # no settings
    assert destination("ghost", buckets, settings) == ("core", None)
    assert destination("core", buckets, settings) == ("core", None)
    # A dividend already split credits each share directly, nothing taken from "send".
    entries = dividend_entries((("keep", d("12.50")), ("core", d("5"))), "USD", "AAPL.US",
                               "dv1", T0)
    assert [(e.bucket_id, e.type, e.amount) for e in entries] == [
        ("keep", "dividend", d("12.50")), ("core", "dividend", d("5.00"))]
    assert holder_shares({"s2": {"B": d("2")}, "core": {"B": d("3"), "A": d("0")}}) == {
        "B": (("core", d("3")), ("s2", d("2")))}


# ------------------------------------------------------------------ reconciliation
def test_check_and_reconcile_small_gap_against_core_with_audit() -> None:
    book = _book(("core", "100", "EUR"), ("sat1", "50", "EUR"))
    assert reconciliation.check(book, "EUR", d("150.005"), T0).is_reconciled
    outcome = reconciliation.reconcile(book, "EUR", d("147"), T0, eur_per_unit=d("1"))
    assert outcome.status == "corrected"
    (entry,) = outcome.entries
    assert (entry.bucket_id, entry.type, entry.amount) == ("core", "reconciliation", d("-3"))
    assert outcome.audit is not None and outcome.audit["adjustment"] == "-3"
    fixed, _ = book.apply(outcome.entries)
    assert reconciliation.check(fixed, "EUR", d("147"), T0).is_reconciled
    assert outcome.check.adjustments_made == d("-3") and outcome.check.is_reconciled


def test_large_gaps_are_reported_and_blocked_gaps_deferred() -> None:
    book = _book(("core", "100", "USD"))
    # threshold EUR 5 at 0.5 EUR/USD = 10 USD.
    ok = reconciliation.reconcile(book, "USD", d("91"), T0, eur_per_unit=d("0.5"))
    assert ok.status == "corrected"
    big = reconciliation.reconcile(book, "USD", d("89.99"), T0, eur_per_unit=d("0.5"))
    assert big.status == "gap_reported" and big.entries == () and "manual" in big.message
    assert not big.check.is_reconciled
    no_rate = reconciliation.reconcile(book, "USD", d("99"), T0, eur_per_unit=None)
    assert no_rate.status == "gap_reported" and no_rate.entries == ()
    deferred = reconciliation.reconcile(book, "USD", d("99"), T0, eur_per_unit=d("1"),
                                        blocked_by="unprocessed cash flow")
    assert deferred.status == "deferred" and deferred.entries == ()


def test_difference_pct_force_and_initialise() -> None:
    empty = BalanceBook()
    c = reconciliation.check(_book(("core", "5", "EUR")), "EUR", d("0"), T0)
    assert c.difference_pct is None
    assert reconciliation.check(empty, "EUR", d("0"), T0).difference_pct == 0
    assert reconciliation.check(empty, "EUR", d("10"), T0).difference_pct == 1
    book = _book(("core", "100", "EUR"), ("sat1", "40", "EUR"))
    (forced,) = reconciliation.force_to_core(book, "EUR", d("500"), T0)
    assert forced.amount == d("360")
    assert reconciliation.force_to_core(book, "EUR", d("140.01"), T0) == ()
    init = reconciliation.initialize_from_brokerage(book, {"EUR": d("9"), "USD": d("70"),
                                                           "HKD": d("0")}, T0)
    assert [(e.currency, e.amount, e.type) for e in init] == [("USD", d("70"), "deposit")]
    assert reconciliation.currencies_to_check(["GBP"], book) == ["EUR", "GBP"]
    diag = reconciliation.diagnose(book, "EUR", T0)
    assert diag["buckets"] == {"core": d("100"), "sat1": d("40")}
    assert diag["virtual_total"] == d("140")


# ------------------------------------------------------------------ targets
def test_targets_sum_to_one_and_patch_rules() -> None:
    buckets = _buckets(satellite("a", target="0"), satellite("b", target="0"))
    assert buckets["core"].target_pct == 1
    out = targets.update_bucket(buckets, "a", T0, budget=d("0.2"), target_pct=d("0.1"))
    assert out["core"].target_pct == d("0.9")
    assert targets.target_violations(out, d("0.2")) == []
    with pytest.raises(targets.TargetRefused, match="budget"):
        targets.update_bucket(out, "b", T0, budget=d("0.2"), target_pct=d("0.11"))
    with pytest.raises(targets.TargetRefused, match="must be 0 or in"):
        targets.update_bucket(out, "b", T0, budget=d("0.2"), target_pct=d("0.01"))
    with pytest.raises(targets.TargetRefused):
        targets.update_bucket(out, "core", T0, budget=d("0.2"), target_pct=d("0.5"))
    with pytest.raises(InvalidBucket, match="nothing"):
        targets.update_bucket(out, "a", T0, budget=d("0.2"))
    renamed = targets.update_bucket(out, "core", T0, budget=d("0.2"), name="Main")
    assert renamed["core"].name == "Main"


def test_budget_cap_and_allocation_settings() -> None:
    buckets = _buckets(satellite("a", target="0.1"))
    settings = AllocationSettings()
    assert targets.set_budget(settings, buckets, d("0.3")).satellite_budget_pct == d("0.3")
    with pytest.raises(targets.TargetRefused):
        targets.set_budget(settings, buckets, d("0.31"))
    with pytest.raises(targets.TargetRefused):
        targets.set_budget(settings, buckets, d("0.05"))
    assert AllocationSettings.from_rows(dict(ALLOCATION_DEFAULTS)) == AllocationSettings()
    with pytest.raises(InvalidBucket):
        AllocationSettings.from_rows({"nope": d("1")})
    with pytest.raises(InvalidBucket):
        AllocationSettings(satellite_budget_pct=d("0.5"))


def test_income_shares_feed_the_cash_flow_effects() -> None:
    buckets = _buckets(satellite("keep"), satellite("send"),
                       satellite("gone", status="retired", target="0"))
    settings = {"keep": SatelliteSettings("keep"),
                "send": SatelliteSettings("send", dividend_handling="send_to_core")}
    positions = {"keep": {"A": d("3")}, "send": {"B": d("1"), "A": d("2")},
                 "gone": {"C": d("4")}, "core": {"D": d("5"), "A": d("5"), "B": d("1")},
                 "": {"E": d("1")}}
    # every holder's quantity counts; "send" and the retired bucket count for core
    assert income_shares(positions, buckets, settings) == {
        "A": (("core", d("7")), ("keep", d("3"))), "B": (("core", d("2")),),
        "C": (("core", d("4")),), "D": (("core", d("5")),), "E": (("core", d("1")),)}
    # The router keys its rows like the cash-flow domain: (cash_flow, key, bucket, type).
    (entry,) = dividend_entries((("keep", d("1")),), "EUR", "A", "cf-key", T0)
    assert entry.key == ("cash_flow", "cf-key", "keep", "dividend")


def test_cash_flow_domain_rows_convert_with_the_same_keys() -> None:
    from arduino_trader.protocols.cash_flow_store import LedgerEntry as FlowRow

    rows = (FlowRow("core", "withdrawal", d("-25.00"), "EUR", "cf-7", "withdrawal"),
            FlowRow("sat1", "dividend", d("3.10"), "USD", "cf-8", "dividend X"))
    entries = balances.from_cash_flow(rows, T0)
    assert [e.key for e in entries] == [("cash_flow", "cf-7", "core", "withdrawal"),
                                        ("cash_flow", "cf-8", "sat1", "dividend")]
    assert entries[0].key == balances.withdrawal(d("25"), "EUR", "cf-7", T0)[0].key
    book, _ = BalanceBook().apply(entries)
    assert book.balance("core", "EUR") == d("-25.00")
    with pytest.raises(InvalidBucket):
        balances.from_cash_flow([FlowRow("core", "bonus", d("1"), "EUR", "x")], T0)  # type: ignore[arg-type]
