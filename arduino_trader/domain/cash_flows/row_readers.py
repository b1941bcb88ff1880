"""One raw broker cash-flow row → its draft records or an explicit :class:`Rejection`.

A reader per source (client request history, executed corporate actions, the broker's
cash-flow ledger) and the field readers they share: an unparsable amount, a missing or
unknown currency or a missing or malformed date rejects the row with its reason; nothing
is guessed. A draft keyed by a broker id gets its final record here; the others are keyed
on their content by :func:`.normalise.normalise`, which needs the whole answer.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal
from typing import Any

from arduino_trader.domain.cash_flows.keys import InvalidKey, broker_key
from arduino_trader.domain.cash_flows.records import Rejection, status_from_code
from arduino_trader.domain.cash_flows.type_codes import meaning
from arduino_trader.protocols.cash_flow_store import CashFlowRecord, FlowKind, Source
from arduino_trader.protocols.money import (
    InvalidAmount,
    parse_currency,
    parse_decimal,
    round_money,
)

WITHDRAWAL_DOC = 337
STRUCTURED_PRODUCT_DOC = 297
# A request of another type moves money only when its parameters name an amount or a
# currency; one naming neither (a Telegram connection, a document request) is not a
# cash movement.
MONEY_PARAMS = ("totalMoneyIn", "totalMoneyOut", "amount", "sum", "currency",
                "total_commission")
CORPORATE_CASH_TYPES: frozenset[str] = frozenset(
    {"dividend", "coupon", "maturity", "partial_maturity"})

class _Reject(Exception):
    """Internal: abort one raw row with a reason."""

    def __init__(self, reason: str, *, ignorable: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.ignorable = ignorable


@dataclass(frozen=True)
class Draft:
    """A record before its key is final (fallback keys need the whole batch)."""

    record: CashFlowRecord
    broker_id: str | None
    suffix: str = ""


# ------------------------------------------------------------------------ field readers
def _amount(value: object, what: str) -> Decimal:
    return round_money(parse_exact(value, what, missing="missing amount"))


def _currency(value: object, what: str, known: Collection[str]) -> str:
    if value is None or (isinstance(value, str) and not value.strip()):
        raise _Reject(f"{what}: missing currency")
    try:
        code = parse_currency(value, field=what)
    except InvalidAmount as exc:
        raise _Reject(str(exc)) from None
    if code not in known:
        raise _Reject(f"{what}: unknown currency {code!r}")
    return code


def _date(value: object, what: str) -> date:
    text = "" if value is None else str(value).strip()
    if len(text) < 10:
        raise _Reject(f"{what}: missing or short date {value!r}")
    try:
        return date.fromisoformat(text[:10])
    except ValueError:
        raise _Reject(f"{what}: bad date {value!r}") from None


def _id(value: object) -> str | None:
    text = "" if value is None else str(value).strip()
    return text if text and text.lower() not in {"none", "null", "0"} else None


def _int_or_none(value: object) -> int | None:
    if value is None or value == "":
        return None
    try:
        number = parse_decimal(value, field="status")
    except InvalidAmount:
        raise _Reject(f"bad status code {value!r}") from None
    if number != number.to_integral_value():
        raise _Reject(f"bad status code {value!r}")
    return int(number)


def _params(value: object) -> dict[str, Any]:
    if value is None or value == "":
        return {}
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, str):
        try:
            parsed = json.loads(value)
        except ValueError:
            raise _Reject("params: not JSON") from None
        if isinstance(parsed, Mapping):
            return dict(parsed)
    raise _Reject(f"params: expected an object, got {type(value).__name__}")


def _first(mapping: Mapping[str, Any], *keys: str) -> Any:
    for key in keys:
        value = mapping.get(key)
        if value is not None and value != "":
            return value
    return None


def _nonzero(amount: Decimal, what: str) -> Decimal:
    if amount == 0:
        raise _Reject(f"{what}: zero amount", ignorable=True)
    return amount


# --------------------------------------------------------------------------- sources
def _cps_row(row: Mapping[str, Any], known: Collection[str]) -> list[Draft]:
    params = _params(row.get("params"))
    type_doc = _int_or_none(row.get("type_doc_id"))
    if type_doc is None:
        raise _Reject("missing type_doc_id")
    status_c = _int_or_none(row.get("status_c"))
    status = status_from_code(status_c)
    on = _date(row.get("date_crt"), "date_crt")
    rid = _id(_first(row, "id", "transaction_id", "doc_id"))
    description = str(row.get("name") or row.get("description") or "")
    base = {"source": "cps", "type_doc_id": str(type_doc), "on": on, "status": status,
            "status_c": status_c, "description": description, "params": params,
            "related_id": rid or ""}
    drafts: list[Draft] = []
    if type_doc == WITHDRAWAL_DOC:
        gross = _amount(params.get("totalMoneyOut"), "totalMoneyOut")
        ccy = _currency(params.get("currency"), "currency", known)
        drafts.append(Draft(_record(base, "withdrawal", "withdrawal", -abs(
            _nonzero(gross, "totalMoneyOut")), ccy), rid))
        fee = params.get("total_commission")
        if fee not in (None, "") and _amount(fee, "total_commission") > 0:
            fee_ccy = _currency(params.get("commission_currency") or params.get("currency"),
                                "commission_currency", known)
            drafts.append(Draft(_record(base, "withdrawal_fee", "withdrawal_fee",
                                         -_amount(fee, "total_commission"), fee_ccy),
                                 rid, "withdrawal_fee"))
    elif type_doc == STRUCTURED_PRODUCT_DOC:
        total = _amount(params.get("structured_product_trade_sum"),
                        "structured_product_trade_sum")
        ccy = _currency(params.get("structured_product_currency"),
                        "structured_product_currency", known)
        drafts.append(Draft(_record(base, "structured_product_purchase",
                                     "structured_product_purchase",
                                     -abs(_nonzero(total, "trade sum")), ccy), rid))
        fee = params.get("structured_product_trade_commission")
        if fee not in (None, "") and _amount(fee, "structured_product_trade_commission") > 0:
            drafts.append(Draft(_record(base, "structured_product_fee",
                                         "structured_product_fee",
                                         -_amount(fee, "structured_product_trade_commission"),
                                         ccy), rid, "structured_product_fee"))
    else:
        if all(params.get(k) in (None, "") for k in MONEY_PARAMS):
            raise _Reject(f"request type {type_doc} names no amount or currency: not a "
                          "cash movement", ignorable=True)
        if params.get("totalMoneyOut") not in (None, "") and _first(
                params, "totalMoneyIn", "amount", "sum") in (None, ""):
            raise _Reject(f"request type {type_doc} moves money out (totalMoneyOut), but "
                          f"only type {WITHDRAWAL_DOC} is read as a withdrawal: book it by "
                          "hand")
        raw_amount = _first(params, "totalMoneyIn", "amount", "sum")
        amount = _nonzero(_amount(raw_amount, f"type {type_doc} amount"), "amount")
        ccy = _currency(params.get("currency"), "currency", known)
        drafts.append(Draft(_record(base, "other", f"type_{type_doc}", amount, ccy), rid))
    return drafts


def _corporate_row(row: Mapping[str, Any], known: Collection[str]) -> list[Draft]:
    action = str(row.get("type") or "").strip().lower()
    if action not in CORPORATE_CASH_TYPES:
        raise _Reject(f"corporate action type {action!r} is not a cash payment",
                      ignorable=True)
    if not row.get("executed", False):
        raise _Reject("corporate action not executed yet", ignorable=True)
    per_one = parse_exact(row.get("amount_per_one"), "amount_per_one")
    count = parse_exact(row.get("executed_count"), "executed_count")
    amount = _nonzero(round_money(per_one * count), "corporate action")
    ccy = _currency(row.get("currency"), "currency", known)
    on = _date(_first(row, "pay_date", "ex_date"), "pay_date")
    ticker = str(row.get("ticker") or "").strip()
    kind: FlowKind = action  # type: ignore[assignment]
    base = {"source": "corporate_action", "type_doc_id": f"corp_{action}", "on": on,
            "status": "completed", "status_c": None, "params": dict(row),
            "description": f"{action}: {ticker} ({count} × {per_one} {ccy})",
            "symbol": ticker, "isin": str(row.get("isin") or "").strip()}
    rid = _id(_first(row, "id", "corporate_action_id"))
    return [Draft(_record(base, kind, action, amount, ccy), rid, action)]


def parse_exact(value: object, what: str, missing: str = "missing") -> Decimal:
    """An exact number from a broker field (strings and decimal commas accepted)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        raise _Reject(f"{what}: {missing}")
    try:
        return parse_decimal(value, field=what, allow_comma=True)
    except InvalidAmount as exc:
        raise _Reject(str(exc)) from None


def _user_flow_row(row: Mapping[str, Any], known: Collection[str]) -> list[Draft]:
    code = str(row.get("type_code") or "").strip().lower()
    amount = _nonzero(_amount(row.get("sum"), "sum"), "sum")
    comment = str(row.get("comment") or "")
    said = meaning(code, amount, comment)  # every code: a ledger kind, or held for review
    ccy = _currency(row.get("currency"), "currency", known)
    on = _date(row.get("date"), "date")
    base = {"source": "user_cash_flow", "type_doc_id": code, "on": on, "status": "completed",
            "status_c": None, "params": dict(row), "description": said.review or comment,
            "symbol": str(_first(row, "symbol", "ticker") or "").strip(),
            "isin": str(row.get("isin") or "").strip().upper(), "related_id": said.trade_id}
    return [Draft(_record(base, said.kind, code or "unknown", amount, ccy),
                   _id(row.get("id")))]


def _record(base: Mapping[str, Any], kind: FlowKind, transaction_type: str, amount: Decimal,
            currency: str) -> CashFlowRecord:
    return CashFlowRecord(key="", kind=kind, transaction_type=transaction_type, amount=amount,
                          currency=currency, **base)


_READERS = {
    "cps": _cps_row,
    "corporate_action": _corporate_row,
    "user_cash_flow": _user_flow_row,
}


# One row's drafts, each with its final record when the broker id keys it (else None:
# keyed on content within the answer), or the row's rejection.
RowRead = tuple[tuple[Draft, CashFlowRecord | None], ...] | Rejection


def read_row(source: Source, row: Mapping[str, Any], currencies: Collection[str]) -> RowRead:
    try:
        drafts = _READERS[source](row, currencies)
    except _Reject as exc:
        return Rejection(source, exc.reason, str(row.get("id") or ""), exc.ignorable,
                         dict(row))
    return tuple((d, _broker_keyed(source, d)) for d in drafts)


def _broker_keyed(source: Source, draft: Draft) -> CashFlowRecord | None:
    if draft.broker_id is None:
        return None
    try:
        return replace(draft.record, key=broker_key(source, draft.broker_id, draft.suffix))
    except InvalidKey:
        return None
