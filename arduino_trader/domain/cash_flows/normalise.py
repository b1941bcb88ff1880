"""Raw broker cash-flow shapes of every source → :class:`CashFlowRecord` or an
explicit :class:`Rejection` with its reason.

Sources: client request history (``getClientCpsHistory``: withdrawals 337, structured
products 297, other ``type_<n>``, and the fees split out of them), executed corporate
actions (dividend, coupon, maturity, partial_maturity) and the broker's cash-flow ledger
(``getUserCashFlows``: transfers, payouts, dividends, trading commissions, fees, taxes;
every documented ``type_code`` is classified in :mod:`.type_codes`, an unknown one is
held for review as ``other``). Trading commissions come from that ledger only: one row
per charge.

Nothing is guessed: an unparsable amount, a missing or unknown currency or a missing
or malformed date is rejected with a reason. String amounts and decimal commas are read
exactly. A record without a broker id is keyed on its
immutable content plus its ordinal among identical records (``stable_id=False``).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal
from typing import Any

from arduino_trader.domain.cash_flows.keys import InvalidKey, broker_key, content_key
from arduino_trader.domain.cash_flows.records import (
    CashFlowRecord,
    FlowKind,
    Normalised,
    Rejection,
    Source,
    status_from_code,
)
from arduino_trader.domain.cash_flows.type_codes import meaning
from arduino_trader.protocols.broker import CashFlow, CpsRequest
from arduino_trader.protocols.money import (
    InvalidAmount,
    parse_currency,
    parse_decimal,
    round_money,
)

KNOWN_CURRENCIES: frozenset[str] = frozenset({
    "EUR", "USD", "GBP", "HKD", "CHF", "SEK", "NOK", "DKK", "PLN", "CZK", "HUF", "JPY",
    "CNY", "CAD", "AUD", "SGD", "KZT", "TRY", "AED", "ILS", "RON", "BGN",
})
WITHDRAWAL_DOC = 337
STRUCTURED_PRODUCT_DOC = 297
CORPORATE_CASH_TYPES: frozenset[str] = frozenset(
    {"dividend", "coupon", "maturity", "partial_maturity"})

class _Reject(Exception):
    """Internal: abort one raw row with a reason."""

    def __init__(self, reason: str, *, ignorable: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.ignorable = ignorable


@dataclass(frozen=True)
class _Draft:
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
def _cps_row(row: Mapping[str, Any], known: Collection[str]) -> list[_Draft]:
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
    drafts: list[_Draft] = []
    if type_doc == WITHDRAWAL_DOC:
        gross = _amount(params.get("totalMoneyOut"), "totalMoneyOut")
        ccy = _currency(params.get("currency"), "currency", known)
        drafts.append(_Draft(_record(base, "withdrawal", "withdrawal", -abs(
            _nonzero(gross, "totalMoneyOut")), ccy), rid))
        fee = params.get("total_commission")
        if fee not in (None, "") and _amount(fee, "total_commission") > 0:
            fee_ccy = _currency(params.get("commission_currency") or params.get("currency"),
                                "commission_currency", known)
            drafts.append(_Draft(_record(base, "withdrawal_fee", "withdrawal_fee",
                                         -_amount(fee, "total_commission"), fee_ccy),
                                 rid, "withdrawal_fee"))
    elif type_doc == STRUCTURED_PRODUCT_DOC:
        total = _amount(params.get("structured_product_trade_sum"),
                        "structured_product_trade_sum")
        ccy = _currency(params.get("structured_product_currency"),
                        "structured_product_currency", known)
        drafts.append(_Draft(_record(base, "structured_product_purchase",
                                     "structured_product_purchase",
                                     -abs(_nonzero(total, "trade sum")), ccy), rid))
        fee = params.get("structured_product_trade_commission")
        if fee not in (None, "") and _amount(fee, "structured_product_trade_commission") > 0:
            drafts.append(_Draft(_record(base, "structured_product_fee",
                                         "structured_product_fee",
                                         -_amount(fee, "structured_product_trade_commission"),
                                         ccy), rid, "structured_product_fee"))
    else:
        raw_amount = _first(params, "totalMoneyIn", "amount", "sum")
        amount = _nonzero(_amount(raw_amount, f"type {type_doc} amount"), "amount")
        ccy = _currency(params.get("currency"), "currency", known)
        drafts.append(_Draft(_record(base, "other", f"type_{type_doc}", amount, ccy), rid))
    return drafts


def _corporate_row(row: Mapping[str, Any], known: Collection[str]) -> list[_Draft]:
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
    return [_Draft(_record(base, kind, action, amount, ccy), rid, action)]


def parse_exact(value: object, what: str, missing: str = "missing") -> Decimal:
    """An exact number from a broker field (strings and decimal commas accepted)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        raise _Reject(f"{what}: {missing}")
    try:
        return parse_decimal(value, field=what, allow_comma=True)
    except InvalidAmount as exc:
        raise _Reject(str(exc)) from None


def _user_flow_row(row: Mapping[str, Any], known: Collection[str]) -> list[_Draft]:
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
    return [_Draft(_record(base, said.kind, code or "unknown", amount, ccy),
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
_Read = tuple[tuple[_Draft, CashFlowRecord | None], ...] | Rejection


class RowMemo:
    """What :func:`normalise` made of each raw row, kept across syncs. A row's records
    (or its rejection) depend on the row's content and the known currencies alone, and a
    broker answers every sync with the whole history again; so a row seen before costs a
    lookup instead of a parse. Rows are told apart by their items *and* the types of the
    values (``1``, ``1.0``, ``True`` and ``Decimal(1)`` are equal but parse apart); a row
    with an unhashable value is parsed every time. Holds at most ``limit`` rows (then
    starts over), and forgets everything when asked about other currencies."""

    def __init__(self, limit: int = 100_000) -> None:
        self.limit = limit
        self._rows: dict[tuple[Any, ...], _Read] = {}
        self._currencies: Collection[str] | None = None

    def __len__(self) -> int:
        return len(self._rows)

    def read(self, source: Source, row: Mapping[str, Any], currencies: Collection[str]
             ) -> _Read:
        """:func:`_read` of ``row``, from memory when seen before."""
        if currencies is not self._currencies:
            self._rows.clear()
            self._currencies = currencies
        key = (source, *((k, v.__class__, v) for k, v in row.items()))
        try:
            done = self._rows.get(key)
        except TypeError:  # an unhashable value (a nested object): no memory for it
            return _read(source, row, currencies)
        if done is None:
            done = _read(source, row, currencies)
            if len(self._rows) >= self.limit:
                self._rows.clear()
            self._rows[key] = done
        return done


def _read(source: Source, row: Mapping[str, Any], currencies: Collection[str]) -> _Read:
    try:
        drafts = _READERS[source](row, currencies)
    except _Reject as exc:
        return Rejection(source, exc.reason, str(row.get("id") or ""), exc.ignorable,
                         dict(row))
    return tuple((d, _broker_keyed(source, d)) for d in drafts)


def _broker_keyed(source: Source, draft: _Draft) -> CashFlowRecord | None:
    if draft.broker_id is None:
        return None
    try:
        return replace(draft.record, key=broker_key(source, draft.broker_id, draft.suffix))
    except InvalidKey:
        return None


def normalise(source: Source, rows: Iterable[Mapping[str, Any]], *,
              currencies: Collection[str] = KNOWN_CURRENCIES,
              memo: RowMemo | None = None) -> Normalised:
    """Normalise one source's raw rows (one broker answer) into records and rejections.

    Keys: the broker id when present; otherwise the content key with the ordinal of the
    record among identical id-less records of this answer. ``memo`` (one per caller,
    kept across calls) remembers the rows already normalised; the result is the same.
    """
    drafts: list[tuple[_Draft, CashFlowRecord | None]] = []
    rejections: list[Rejection] = []
    for row in rows:
        if not isinstance(row, Mapping):
            rejections.append(Rejection(source, "row is not an object"))
            continue
        done = memo.read(source, row, currencies) if memo is not None else _read(
            source, row, currencies)
        if isinstance(done, Rejection):
            rejections.append(done)
        else:
            drafts.extend(done)
    seen: Counter[str] = Counter()
    records: list[CashFlowRecord] = []
    for draft, keyed in drafts:
        if keyed is not None:
            records.append(keyed)
            continue
        rec = draft.record
        base_key = content_key(source, rec.transaction_type, rec.on, rec.amount,
                               rec.currency, rec.symbol or rec.isin, 0)
        ordinal = seen[base_key]
        seen[base_key] += 1
        key = content_key(source, rec.transaction_type, rec.on, rec.amount,
                          rec.currency, rec.symbol or rec.isin, ordinal)
        records.append(replace(rec, key=key, stable_id=False))
    return Normalised(*_dedupe(records, rejections, source))


def _dedupe(records: list[CashFlowRecord], rejections: list[Rejection], source: Source,
            ) -> tuple[tuple[CashFlowRecord, ...], tuple[Rejection, ...]]:
    """One record per key: exact repeats in one answer are dropped; a repeat whose money
    facts differ is rejected (the first one stands) — a broker inconsistency to report."""
    kept: dict[str, CashFlowRecord] = {}
    for rec in records:
        first = kept.get(rec.key)
        if first is None:
            kept[rec.key] = rec
        elif (first.amount, first.currency, first.on, first.kind) != (
                rec.amount, rec.currency, rec.on, rec.kind):
            rejections.append(Rejection(
                source, f"conflicting duplicate of {rec.key}: {rec.amount} {rec.currency} "
                        f"vs {first.amount} {first.currency}", rec.key, False, rec.params))
    return tuple(kept.values()), tuple(rejections)


@dataclass(frozen=True)
class SourceFailure:
    """A source whose fetch failed this sync: logged and skipped, nothing is deleted."""

    source: Source
    error: str


def normalise_sources(answers: Mapping[Source, Sequence[Mapping[str, Any]] | BaseException],
                      *, currencies: Collection[str] = KNOWN_CURRENCIES,
                      memo: RowMemo | None = None,
                      ) -> tuple[Normalised, tuple[SourceFailure, ...]]:
    """Normalise every source's answer of one sync; a source that raised contributes no
    records (its absence never deletes or reverses anything) and is reported."""
    total = Normalised()
    failures: list[SourceFailure] = []
    for source, answer in answers.items():
        if isinstance(answer, BaseException):
            failures.append(SourceFailure(source, f"{type(answer).__name__}: {answer}"))
            continue
        total = total + normalise(source, answer, currencies=currencies, memo=memo)
    return total, tuple(failures)


def with_instruments(records: Sequence[CashFlowRecord], symbol_by_isin: Mapping[str, str],
                     isin_by_symbol: Mapping[str, str]) -> tuple[CashFlowRecord, ...]:
    """Complete each record's instrument from the universe: a record naming only an ISIN
    gets the security's symbol (the DRIP buys by symbol), one naming only a symbol gets
    its ISIN. Unknown references stay as they are; nothing is guessed."""
    out: list[CashFlowRecord] = []
    for rec in records:
        symbol = rec.symbol or (symbol_by_isin.get(rec.isin, "") if rec.isin else "")
        isin = rec.isin or (isin_by_symbol.get(rec.symbol, "") if rec.symbol else "")
        out.append(rec if (symbol, isin) == (rec.symbol, rec.isin)
                   else replace(rec, symbol=symbol, isin=isin))
    return tuple(out)


# ------------------------------------------------------------------ port record shapes
def cash_flow_rows(flows: Sequence[CashFlow]) -> list[dict[str, Any]]:
    """Port :class:`CashFlow` records → ``getUserCashFlows`` row shape for :func:`normalise`
    (the instrument, when the port named one, as ``symbol``/``isin``)."""
    return [{"id": f.flow_id, "type_code": f.type_code, "sum": f.amount,
             "currency": f.currency, "date": f.at.date().isoformat() if f.at else None,
             "comment": f.comment, "symbol": f.symbol or "", "isin": f.isin or ""}
            for f in flows]


def cps_rows(requests: Sequence[CpsRequest]) -> list[dict[str, Any]]:
    """Port :class:`CpsRequest` records → ``getClientCpsHistory`` row shape."""
    return [{"id": r.request_id, "type_doc_id": r.type_doc_id, "status_c": r.status,
             "date_crt": r.created_at.date().isoformat() if r.created_at else None,
             "params": dict(r.params)} for r in requests]
