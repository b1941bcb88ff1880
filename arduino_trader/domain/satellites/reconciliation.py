"""Reconciliation of the virtual ledger against broker cash
(docs/architecture.md, money invariant 2).

Per currency c: Σ_b balance(b, c) must equal broker cash(c) within 0.01. A small gap
(≤ EUR 5 converted to c) is corrected against core with a ``reconciliation`` ledger row
and an audit record; a larger one is reported for manual intervention and nothing
changes. A gap is never corrected while something unprocessed could explain it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Literal

from arduino_trader.protocols.money import CENT, ZERO, decimal_to_str
from arduino_trader.protocols.satellite_records import CORE_ID, LedgerEntry

from .balances import BalanceBook

TOLERANCE = CENT
DEFAULT_AUTO_CORRECT_EUR = Decimal("5")


@dataclass(frozen=True)
class ReconciliationCheck:
    """The reconciliation result. ``difference`` = virtual − actual; ``difference_pct`` is
    |diff|/actual, None when infinite (actual 0, virtual not)."""

    currency: str
    virtual_total: Decimal
    actual_total: Decimal
    difference: Decimal
    is_reconciled: bool
    adjustments_made: Decimal
    timestamp: datetime

    @property
    def difference_pct(self) -> Decimal | None:
        """|difference| / actual; 0 when both are 0; None (∞) when only actual is 0."""
        if self.actual_total == 0:
            return ZERO if self.difference == 0 else None
        return abs(self.difference) / abs(self.actual_total)


def check(book: BalanceBook, currency: str, actual: Decimal,
          now: datetime) -> ReconciliationCheck:
    """Compare the ledger total in ``currency`` with broker cash (read-only)."""
    virtual = book.currency_total(currency)
    diff = virtual - actual
    return ReconciliationCheck(currency, virtual, actual, diff, abs(diff) < TOLERANCE, ZERO,
                               now)


Status = Literal["reconciled", "corrected", "gap_reported", "deferred"]


@dataclass(frozen=True)
class ReconcileOutcome:
    """What a reconciliation decided: the check (after any correction), the ledger rows
    to write, the audit record (JSON-ready), and a message for the log."""

    status: Status
    check: ReconciliationCheck
    entries: tuple[LedgerEntry, ...] = ()
    audit: Mapping[str, Any] | None = None
    message: str = ""


def reconcile(book: BalanceBook, currency: str, actual: Decimal, now: datetime, *,
              eur_per_unit: Decimal | None,
              threshold_eur: Decimal = DEFAULT_AUTO_CORRECT_EUR,
              blocked_by: str | None = None) -> ReconcileOutcome:
    """Reconcile one currency.

    ``blocked_by`` names what could explain a gap (pending orders, unsettled trades, an
    unprocessed cash flow): the gap is then deferred, never corrected. Without a rate the
    EUR threshold cannot be converted and a gap is only reported.
    """
    before = check(book, currency, actual, now)
    if before.is_reconciled:
        return ReconcileOutcome("reconciled", before, message="reconciled")
    if blocked_by:
        return ReconcileOutcome("deferred", before,
                                message=f"gap {before.difference} {currency} deferred: "
                                f"{blocked_by}")
    if eur_per_unit is None or eur_per_unit <= 0:
        return ReconcileOutcome("gap_reported", before, message=f"gap {before.difference} "
                                f"{currency}: no EUR rate, manual intervention required")
    threshold = threshold_eur / eur_per_unit
    if abs(before.difference) > threshold:
        return ReconcileOutcome("gap_reported", before, message=gap_message(
            before.difference, currency, threshold_eur, eur_per_unit))
    adjustment = -before.difference
    entry = LedgerEntry(bucket_id=CORE_ID, currency=currency, type="reconciliation",
                        amount=adjustment, source_kind="reconcile",
                        source_id=f"{currency}:{now.isoformat()}", created_at=now,
                        description=f"auto-correct {decimal_to_str(adjustment)} {currency} "
                        f"(virtual {before.virtual_total}, broker {actual})")
    after = ReconciliationCheck(currency, before.virtual_total + adjustment, actual, ZERO,
                                True, adjustment, now)
    audit = {"currency": currency, "virtual_total": decimal_to_str(before.virtual_total),
             "actual_total": decimal_to_str(actual),
             "adjustment": decimal_to_str(adjustment), "bucket_id": CORE_ID,
             "threshold_eur": decimal_to_str(threshold_eur)}
    return ReconcileOutcome("corrected", after, (entry,), audit,
                            f"corrected {adjustment} {currency} against core")


def gap_message(difference: Decimal, currency: str, threshold_eur: Decimal,
                eur_per_unit: Decimal) -> str:
    """A gap beyond the auto-correct limit, gap and limit both in ``currency`` (the
    limit's EUR amount and the gap's EUR value alongside)."""
    limit = (threshold_eur / eur_per_unit).quantize(CENT)
    gap_eur = abs(difference * eur_per_unit).quantize(CENT)
    gap, limit_eur = (("", "") if currency == "EUR" else
                      (f" ({gap_eur} EUR)", f" ({threshold_eur} EUR)"))
    return (f"ledger {'above' if difference > 0 else 'below'} broker cash by "
            f"{abs(difference).quantize(CENT)} {currency}{gap}, beyond the auto-correct "
            f"limit of {limit} {currency}{limit_eur}: manual intervention required")


def force_to_core(book: BalanceBook, currency: str, actual: Decimal,
                  now: datetime) -> tuple[LedgerEntry, ...]:
    """Set core := actual − Σ non-core (manual ``force_reconcile_to_core``); a row only
    when the change exceeds 0.01."""
    delta = actual - book.currency_total(currency)
    if abs(delta) <= TOLERANCE:
        return ()
    return (LedgerEntry(bucket_id=CORE_ID, currency=currency, type="reconciliation",
                        amount=delta, source_kind="reconcile",
                        source_id=f"force:{currency}:{now.isoformat()}", created_at=now,
                        description="forced reconciliation to core"),)


def initialize_from_brokerage(book: BalanceBook, broker_cash: Mapping[str, Decimal],
                              now: datetime) -> tuple[LedgerEntry, ...]:
    """Currencies with no ledger money and positive broker cash → core ``deposit`` row
    "initial balance from brokerage" (idempotent per currency)."""
    rows = []
    for currency in sorted(broker_cash):
        amount = broker_cash[currency]
        if amount > 0 and book.currency_total(currency) == 0 \
                and not any(e.currency == currency for e in book.entries):
            rows.append(LedgerEntry(bucket_id=CORE_ID, currency=currency, type="deposit",
                                    amount=amount, source_kind="reconcile",
                                    source_id=f"init:{currency}", created_at=now,
                                    description="initial balance from brokerage"))
    return tuple(rows)


def currencies_to_check(broker_cash: Iterable[str], book: BalanceBook) -> list[str]:
    """The union of broker and ledger currencies, sorted."""
    return sorted(set(broker_cash) | book.currencies())


def diagnose(book: BalanceBook, currency: str, now: datetime) -> dict[str, Any]:
    """Non-zero per-bucket balances, the total, and the last 20 rows of 7 days."""
    since = now - timedelta(days=7)
    recent = [e for e in book.entries if e.currency == currency and e.created_at >= since]
    return {
        "currency": currency,
        "buckets": {b: v for b, v in sorted(book.by_bucket(currency).items()) if v != 0},
        "virtual_total": book.currency_total(currency),
        "recent": recent[-20:],
    }


def ledger_health(outcomes: Mapping[str, ReconcileOutcome]) -> tuple[Literal[
        "ok", "degraded"], str]:
    """Health's view of one reconciliation pass (``{currency: outcome}``): degraded, with
    each gap in its own currency, when a gap is beyond the auto-correct limit or cannot be
    judged for want of a rate; ok otherwise (a small gap is corrected by the nightly job,
    a deferred one waits for what could explain it)."""
    gaps = [f"{ccy}: {o.message}" for ccy, o in sorted(outcomes.items())
            if o.status == "gap_reported"]
    if gaps:
        return "degraded", "bucket ledger disagrees with broker cash: " + "; ".join(gaps)
    deferred = sorted(c for c, o in outcomes.items() if o.status == "deferred")
    return "ok", ("bucket ledger agrees with broker cash"
                  + (f" (gap deferred in {', '.join(deferred)})" if deferred else ""))
