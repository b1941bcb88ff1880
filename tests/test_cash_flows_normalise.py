"""Normalisation of every broker source: exact amounts, explicit rejections."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from arduino_trader.domain.cash_flows.keys import content_key, is_fallback
from arduino_trader.domain.cash_flows.normalise import (
    KNOWN_CURRENCIES,
    RowMemo,
    cash_flow_rows,
    cps_rows,
    normalise,
)
from arduino_trader.protocols.broker import CashFlow, CpsRequest


def _withdrawal(rid: object = 101, status: int = 3, **params: object) -> dict[str, object]:
    base: dict[str, object] = {"totalMoneyOut": "250,50", "currency": "EUR"}
    base.update(params)
    return {"id": rid, "type_doc_id": 337, "date_crt": "2026-03-01 10:11:12",
            "status_c": status, "params": json.dumps(base), "name": "Withdrawal"}


def test_withdrawal_with_comma_amount_and_fee_are_two_signed_records() -> None:
    out = normalise("cps", [_withdrawal(total_commission="1.5", commission_currency="EUR")])
    assert out.rejections == ()
    main, fee = out.records
    assert (main.key, main.kind, main.amount, main.currency) == (
        "cps:101", "withdrawal", Decimal("-250.50"), "EUR")
    assert main.on == date(2026, 3, 1) and main.status == "completed"
    assert (fee.key, fee.kind, fee.amount) == ("cps:101:withdrawal_fee", "withdrawal_fee",
                                               Decimal("-1.50"))


def test_structured_product_and_its_fee_do_not_collide_with_a_withdrawal_fee() -> None:
    row = {"id": 7, "type_doc_id": 297, "date_crt": "2026-01-02", "status_c": 3,
           "params": {"structured_product_trade_sum": "1000",
                      "structured_product_currency": "USD",
                      "structured_product_trade_commission": "3"}}
    out = normalise("cps", [row])
    assert [r.key for r in out.records] == ["cps:7", "cps:7:structured_product_fee"]
    assert [r.amount for r in out.records] == [Decimal("-1000.00"), Decimal("-3.00")]
    assert all(r.currency == "USD" for r in out.records)


def test_other_cps_type_is_kept_as_type_n_and_classified_other() -> None:
    row = {"id": 9, "type_doc_id": 12, "date_crt": "2026-01-02", "status_c": 1,
           "params": {"totalMoneyIn": "10", "currency": "EUR"}}
    (rec,) = normalise("cps", [row]).records
    assert (rec.kind, rec.transaction_type, rec.status) == ("other", "type_12", "processing")


@pytest.mark.parametrize(("params", "reason"), [
    ({"totalMoneyOut": "abc", "currency": "EUR"}, "not a number"),
    ({"totalMoneyOut": "10"}, "missing currency"),
    ({"totalMoneyOut": "10", "currency": "XXQ"}, "unknown currency"),
    ({"totalMoneyOut": "10", "currency": "euro"}, "not a currency code"),
    ({"currency": "EUR"}, "missing amount"),
])
def test_bad_cps_fields_are_rejected_with_a_reason(params: dict[str, str],
                                                   reason: str) -> None:
    row = {"id": 5, "type_doc_id": 337, "date_crt": "2026-01-02", "status_c": 3,
           "params": params}
    out = normalise("cps", [row])
    assert out.records == ()
    (rej,) = out.rejections
    assert reason in rej.reason and rej.raw_id == "5" and not rej.ignorable


def test_missing_date_is_rejected_never_today() -> None:
    row = _withdrawal()
    row["date_crt"] = ""
    (rej,) = normalise("cps", [row]).rejections
    assert "date" in rej.reason


def test_cps_without_id_gets_a_content_key_without_status() -> None:
    pending = normalise("cps", [_withdrawal(rid=None, status=1)]).records[0]
    done = normalise("cps", [_withdrawal(rid=None, status=3)]).records[0]
    assert pending.key == done.key and is_fallback(done.key) and not done.stable_id
    assert "completed" not in done.key and "pending" not in pending.key


def test_identical_id_less_records_get_distinct_ordinal_keys_stable_across_syncs() -> None:
    rows = [_withdrawal(rid=None), _withdrawal(rid=None)]
    first = [r.key for r in normalise("cps", rows).records]
    again = [r.key for r in normalise("cps", rows).records]
    assert len(set(first)) == 2 and first == again


def test_corporate_actions_executed_cash_types_only() -> None:
    rows = [
        {"id": 77, "type": "Dividend", "executed": True, "amount_per_one": "0.2345",
         "executed_count": "10", "currency": "USD", "pay_date": "2026-02-03T00:00:00",
         "ex_date": "2026-01-20", "ticker": "AAPL.US"},
        {"id": 78, "type": "dividend", "executed": False, "amount_per_one": "1",
         "executed_count": 1, "currency": "USD", "pay_date": "2026-02-03"},
        {"id": 79, "type": "split", "executed": True},
        {"id": 80, "type": "coupon", "executed": True, "amount_per_one": "1",
         "executed_count": 2, "ex_date": "2026-02-01"},
    ]
    out = normalise("corporate_action", rows)
    (rec,) = out.records
    assert (rec.key, rec.kind, rec.amount, rec.symbol, rec.on) == (
        "corp:77:dividend", "dividend", Decimal("2.34"), "AAPL.US", date(2026, 2, 3))
    reasons = {r.raw_id: (r.reason, r.ignorable) for r in out.rejections}
    assert reasons["78"][1] and reasons["79"][1]
    assert reasons["80"] == ("currency: missing currency", False)


def test_corporate_actions_without_id_do_not_share_one_key() -> None:
    rows = [{"type": "dividend", "executed": True, "amount_per_one": "1",
             "executed_count": n, "currency": "USD", "pay_date": "2026-02-03",
             "ticker": t} for n, t in ((3, "A.US"), (4, "B.US"))]
    keys = [r.key for r in normalise("corporate_action", rows).records]
    assert len(set(keys)) == 2


def test_user_cash_flows_classify_deposits_and_hold_unknown_types() -> None:
    rows: list[Any] = [{"id": 1, "type_code": "card", "sum": "1000.00", "currency": "EUR",
             "date": "2026-03-05"},
            {"id": 2, "type_code": "REFILL", "sum": "50", "currency": "usd",
             "date": "2026-03-05"},
            {"id": 3, "type_code": "mystery", "sum": "5", "currency": "EUR",
             "date": "2026-03-05"},
            {"id": 4, "type_code": "card", "sum": "-5", "currency": "EUR",
             "date": "2026-03-05"},
            {"id": 5, "type_code": "card_payout", "sum": "-20", "currency": "EUR",
             "date": "2026-03-05"},
            {"id": 6, "type_code": "dividend", "sum": "3.10", "currency": "USD",
             "date": "2026-03-05", "symbol": "KO.US"},
            {"id": 7, "type_code": "card_payout", "sum": "20", "currency": "EUR",
             "date": "2026-03-05"},
            "garbage"]
    out = normalise("user_cash_flow", rows)
    kinds = {r.key: (r.kind, r.amount, r.currency) for r in out.records}
    assert kinds == {
        "ucf:1": ("deposit", Decimal("1000.00"), "EUR"),
        "ucf:2": ("deposit", Decimal("50.00"), "USD"),
        "ucf:3": ("other", Decimal("5.00"), "EUR"),  # held for review, never dropped
        "ucf:4": ("withdrawal", Decimal("-5.00"), "EUR"),  # a card payment going out
        "ucf:5": ("withdrawal", Decimal("-20.00"), "EUR"),
        "ucf:6": ("dividend", Decimal("3.10"), "USD"),
        "ucf:7": ("other", Decimal("20.00"), "EUR"),  # a payout with a positive sum
    }
    held = {r.key: r.description for r in out.records if r.kind == "other"}
    assert "unknown cash-flow type 'mystery'" in held["ucf:3"]
    assert "positive amount" in held["ucf:7"]
    assert [r.symbol for r in out.records if r.kind == "dividend"] == ["KO.US"]
    assert [r.reason for r in out.rejections] == ["row is not an object"]


def test_port_records_normalise_through_the_raw_shapes() -> None:
    at = datetime(2026, 3, 6, 9, tzinfo=UTC)
    flows = cash_flow_rows([CashFlow("55", "card", Decimal("100"), "EUR", at)])
    cps = cps_rows([CpsRequest(8, 337, 1, at, {"totalMoneyOut": 5, "currency": "EUR"})])
    out = normalise("user_cash_flow", flows) + normalise("cps", cps)
    assert [r.key for r in out.records] == ["ucf:55", "cps:8"]
    assert out.records[1].status == "processing"


def test_content_key_depends_on_ordinal_and_content_only() -> None:
    a = content_key("cps", "withdrawal", date(2026, 1, 1), Decimal("1.0"), "EUR", "", 0)
    b = content_key("cps", "withdrawal", date(2026, 1, 1), Decimal("1.00"), "EUR", "", 0)
    c = content_key("cps", "withdrawal", date(2026, 1, 1), Decimal("1.00"), "EUR", "", 1)
    assert a == b != c


# ------------------------------------------------------------------------ properties
@given(amount=st.decimals(Decimal("0.01"), Decimal("1e9"), places=2),
       style=st.sampled_from(["dot", "comma", "number", "padded"]))
def test_amount_spellings_read_exactly(amount: Decimal, style: str) -> None:
    spelled: object = {"dot": str(amount), "comma": str(amount).replace(".", ","),
                       "number": float(amount) if amount < Decimal("1e6") else str(amount),
                       "padded": f"  {amount}  "}[style]
    row = {"id": 1, "type_code": "card", "sum": spelled, "currency": "EUR",
           "date": "2026-03-05"}
    (rec,) = normalise("user_cash_flow", [row]).records
    assert rec.amount == amount


@given(status_a=st.integers(1, 5), status_b=st.integers(1, 5), with_id=st.booleans(),
       amount=st.decimals(Decimal("0.01"), Decimal("1e6"), places=2))
def test_status_never_changes_the_key(status_a: int, status_b: int, with_id: bool,
                                      amount: Decimal) -> None:
    def key(status: int) -> str:
        row = {"id": 42 if with_id else None, "type_doc_id": 337, "date_crt": "2026-01-05",
               "status_c": status, "params": {"totalMoneyOut": str(amount), "currency": "USD",
                                              "total_commission": "1"}}
        return "|".join(r.key for r in normalise("cps", [row]).records)

    assert key(status_a) == key(status_b)


# Values that compare equal across types (1, 1.0, True, Decimal(1), "1" does not) and ones
# that cannot be hashed, so a memo keyed carelessly would hand one row another's records.
_tricky = st.sampled_from([None, "", "1", 1, 1.0, True, Decimal("1"), Decimal("1.00"),
                           "10,50", "-5", 0, "x", [1], {"a": 1}])
_user_rows = st.fixed_dictionaries({
    "id": st.sampled_from([None, "", "7", 7, 7.0, "null", "f-1", [7]]),
    "type_code": st.sampled_from(["card", "deposit", "commission", "dividend", "bogus", None]),
    "sum": _tricky,
    "currency": st.sampled_from(["EUR", "usd", "XXX", None, 1]),
    "date": st.sampled_from(["2026-01-02", "2026-01-02T10:00:00", "bad", None]),
}, optional={"comment": _tricky, "symbol": st.sampled_from(["", "AAPL.US", None]),
             "isin": st.sampled_from(["", "us0378331005"])})


@settings(max_examples=300, deadline=None)
@given(answers=st.lists(st.tuples(
           st.just("user_cash_flow"), st.booleans(),
           st.lists(st.one_of(_user_rows, st.just("not a row")), max_size=8)),
           min_size=1, max_size=6),
       limit=st.integers(1, 12))
def test_a_row_memo_never_changes_what_normalise_returns(
        answers: list[tuple[Any, bool, list[Any]]], limit: int) -> None:
    """Across syncs (repeated rows, equal-but-different values, unhashable values,
    another currency list, a memo that fills up) the memo changes nothing."""
    memo = RowMemo(limit=limit)
    only_eur = frozenset({"EUR"})
    for source, all_known, rows in answers:
        known = KNOWN_CURRENCIES if all_known else only_eur
        assert normalise(source, rows, currencies=known, memo=memo) == normalise(
            source, rows, currencies=known)
        assert len(memo) <= limit


def test_a_row_memo_parses_a_row_once() -> None:
    memo = RowMemo()
    rows = [{"id": i, "type_code": "card", "sum": "10", "currency": "EUR",
             "date": "2026-01-02"} for i in range(1, 4)]
    first = normalise("user_cash_flow", rows, memo=memo)
    again = normalise("user_cash_flow", [*rows, {**rows[0], "id": 9}], memo=memo)
    assert len(memo) == 4 and again.records[:3] == first.records
    assert all(a is b for a, b in zip(first.records, again.records, strict=False))


def test_a_row_memo_tells_equal_values_of_other_types_apart() -> None:
    """``True == 1`` and they hash alike, but True is no amount."""
    memo = RowMemo()
    row = {"id": 5, "type_code": "card", "sum": 1, "currency": "EUR", "date": "2026-01-02"}
    assert len(normalise("user_cash_flow", [row], memo=memo).records) == 1
    flagged = normalise("user_cash_flow", [{**row, "sum": True}], memo=memo)
    assert flagged.records == () and "got True" in flagged.rejections[0].reason


@pytest.mark.parametrize(("code", "status"), [
    (0, "pending"), (1, "processing"), (2, "rejected"), (3, "completed"), (4, "unknown")])
def test_request_status_codes_read_as_the_broker_documents_them(code: int,
                                                                status: str) -> None:
    """The request history's statuses: 0 a draft, 1 being executed, 2 rejected, 3
    executed; only an executed withdrawal is completed, and a rejected one is final."""
    (main,) = [r for r in normalise("cps", [_withdrawal(status=code)]).records
               if r.kind == "withdrawal"]
    assert main.status == status
    assert main.completed == (code == 3)


def test_a_request_naming_no_money_is_not_a_cash_movement() -> None:
    """The broker's own sample of its request history (type 10160, a Telegram
    connection) carries no amount: ignorable, never an error that degrades health."""
    row = {"id": 13123125345345, "type_doc_id": 10160, "date_crt": "2019-11-06 15:31:55",
           "status_c": 3, "params": {"ip": "", "sign": 1, "secType": 3, "status_c": 3,
                                     "status_date": "2019-11-06 15:31:56",
                                     "type_doc_id": "10160", "telegram_bot": "on",
                                     "client_comment": ""}}
    out = normalise("cps", [row])
    assert out.records == ()
    (rej,) = out.rejections
    assert rej.ignorable and "not a cash movement" in rej.reason


def test_money_out_under_another_request_type_is_reported_loudly() -> None:
    row = {"id": 77, "type_doc_id": 181, "date_crt": "2026-01-02", "status_c": 3,
           "params": {"totalMoneyOut": "1000.00", "currency": "EUR"}}
    out = normalise("cps", [row])
    (rej,) = out.rejections
    assert not rej.ignorable and "only type 337" in rej.reason and out.records == ()
