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
exactly. Each row is read by :mod:`.row_readers`; this module keys the records of one
answer: a record without a broker id is keyed on its immutable content plus its ordinal
among identical records (``stable_id=False``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from arduino_trader.domain.cash_flows.keys import content_key
from arduino_trader.domain.cash_flows.records import Normalised, Rejection
from arduino_trader.domain.cash_flows.row_readers import Draft, RowRead, read_row
from arduino_trader.protocols.broker import CashFlow, CpsRequest
from arduino_trader.protocols.cash_flow_store import CashFlowRecord, Source

KNOWN_CURRENCIES: frozenset[str] = frozenset({
    "EUR", "USD", "GBP", "HKD", "CHF", "SEK", "NOK", "DKK", "PLN", "CZK", "HUF", "JPY",
    "CNY", "CAD", "AUD", "SGD", "KZT", "TRY", "AED", "ILS", "RON", "BGN",
})


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
        self._rows: dict[tuple[Any, ...], RowRead] = {}
        self._currencies: Collection[str] | None = None

    def __len__(self) -> int:
        return len(self._rows)

    def read(self, source: Source, row: Mapping[str, Any], currencies: Collection[str]
             ) -> RowRead:
        """:func:`.row_readers.read_row` of ``row``, from memory when seen before."""
        if currencies is not self._currencies:
            self._rows.clear()
            self._currencies = currencies
        key = (source, *((k, v.__class__, v) for k, v in row.items()))
        try:
            done = self._rows.get(key)
        except TypeError:  # an unhashable value (a nested object): no memory for it
            return read_row(source, row, currencies)
        if done is None:
            done = read_row(source, row, currencies)
            if len(self._rows) >= self.limit:
                self._rows.clear()
            self._rows[key] = done
        return done


def normalise(source: Source, rows: Iterable[Mapping[str, Any]], *,
              currencies: Collection[str] = KNOWN_CURRENCIES,
              memo: RowMemo | None = None) -> Normalised:
    """Normalise one source's raw rows (one broker answer) into records and rejections.

    Keys: the broker id when present; otherwise the content key with the ordinal of the
    record among identical id-less records of this answer. ``memo`` (one per caller,
    kept across calls) remembers the rows already normalised; the result is the same.
    """
    drafts: list[tuple[Draft, CashFlowRecord | None]] = []
    rejections: list[Rejection] = []
    for row in rows:
        if not isinstance(row, Mapping):
            rejections.append(Rejection(source, "row is not an object"))
            continue
        done = memo.read(source, row, currencies) if memo is not None else read_row(
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
