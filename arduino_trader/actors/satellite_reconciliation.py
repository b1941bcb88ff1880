"""The satellite manager's reconciliation of the ledger with broker cash: one currency
(reconciled, auto-corrected within the limit, or a gap reported and audited), the daily
``satellite_reconciliation`` job over every currency, health's read-only view, and the
manual initial balance from the brokerage."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from arduino_trader.domain.satellites import balances, reconciliation
from arduino_trader.protocols.broker_errors import BROKER_CALL_FAILURES
from arduino_trader.protocols.bucket_ledger import Operation
from arduino_trader.protocols.messages import JobOutcome
from arduino_trader.protocols.money import ZERO, decimal_to_str
from arduino_trader.protocols.runtime import ActorUnavailable
from arduino_trader.protocols.satellite_records import SatelliteError

from .base import HEALTH_ACTOR, ActorContext
from .satellite_book import BookReader, load_book
from .satellite_facts import Facts, MissingRate
from .satellite_reports import check_json, ledger_status
from .satellite_settlement import settle_missing_safely
from .satellite_state import read_facts, write_operation


def broker_cash(facts: Facts, currency: str, given: Decimal | None) -> Decimal:
    """``given``, else the broker's cash in ``currency`` (:class:`BalanceError` when the
    broker cannot say)."""
    if given is not None:
        return given
    try:
        return facts.account().cash_in(currency)
    except BROKER_CALL_FAILURES as exc:
        raise balances.BalanceError(f"broker cash unavailable: {exc}") from exc


def broker_cash_all(facts: Facts) -> dict[str, Decimal]:
    """The broker's cash per currency (:class:`BalanceError` when it cannot say)."""
    try:
        account = facts.account()
    except BROKER_CALL_FAILURES as exc:
        raise balances.BalanceError(f"broker cash unavailable: {exc}") from exc
    cash: dict[str, Decimal] = {}
    for row in account.cash:
        cash[row.currency] = cash.get(row.currency, ZERO) + row.amount
    return cash


def check_currency(ctx: ActorContext, currency: str, given: Decimal | None
                   ) -> dict[str, Any]:
    """The ledger of one currency against broker cash (or ``given``); nothing written."""
    facts = read_facts(ctx)
    actual = broker_cash(facts, currency, given)
    book = load_book(ctx.deps.bucket_ledger)
    return check_json(reconciliation.check(book, currency, actual,
                                           ctx.clock.now()))


def reconcile(ctx: ActorContext, log: Any, facts: Facts, currency: str, actual: Decimal,
              threshold: Decimal | None) -> dict[str, Any]:
    """Reconcile one currency with ``actual`` broker cash: a gap within ``threshold`` EUR
    (the setting when None) is corrected, a larger one reported; every outcome audited."""
    now = ctx.clock.now()
    book = load_book(ctx.deps.bucket_ledger)
    limit = threshold if threshold is not None else \
        ctx.settings().typed.satellite_reconcile_auto_correct_eur
    outcome = reconciliation.reconcile(
        book, currency, actual, now, eur_per_unit=facts.rate_or_none(currency),
        threshold_eur=limit, blocked_by=ctx.deps.bucket_ledger.blockers())
    check = outcome.check
    audit = {"currency": currency, "status": outcome.status,
             "virtual_total": decimal_to_str(check.virtual_total - check.adjustments_made),
             "actual_total": decimal_to_str(actual),
             "difference": decimal_to_str(check.virtual_total - check.adjustments_made
                                          - actual),
             "adjustment": decimal_to_str(check.adjustments_made),
             "message": outcome.message}
    if outcome.entries:
        write_operation(ctx, Operation(outcome.entries, audit=audit))
    else:
        ctx.deps.bucket_ledger.record_audit(audit, now)
    level = log.warning if outcome.status == "gap_reported" else log.info
    level("bucket_reconciliation", currency=currency, status=outcome.status,
          virtual=audit["virtual_total"], actual=audit["actual_total"],
          difference=audit["difference"],
          difference_pct=str(check.difference_pct) if check.difference_pct is not None
          else "inf", adjustment=audit["adjustment"], note=outcome.message)
    return {**check_json(check), "status": outcome.status, "message": outcome.message}


def reconcile_currency(ctx: ActorContext, log: Any, currency: str, given: Decimal | None,
                       threshold: Decimal | None) -> dict[str, Any]:
    """:func:`reconcile` one currency against broker cash (or ``given``)."""
    facts = read_facts(ctx)
    actual = broker_cash(facts, currency, given)
    return reconcile(ctx, log, facts, currency, actual, threshold)


def run_reconciliation(ctx: ActorContext, log: Any, books: BookReader) -> JobOutcome:
    """The ``satellite_reconciliation`` job: settle what is missing, then reconcile every
    currency of the broker and the ledger; failed when a gap is reported."""
    settle_missing_safely(ctx, log)  # a gap a lost event left is settled, not corrected
    facts = read_facts(ctx)
    try:
        cash = broker_cash_all(facts)
    except balances.BalanceError as exc:
        return JobOutcome(False, str(exc))
    book = load_book(ctx.deps.bucket_ledger)
    results = {ccy: reconcile(ctx, log, facts, ccy, cash.get(ccy, ZERO), None)
               for ccy in reconciliation.currencies_to_check(cash, book)}
    gaps = sorted(c for c, r in results.items() if r["status"] == "gap_reported")
    report_ledger(ctx, log, books)
    summary = (f"{len(results)} currencies: "
               + ", ".join(f"{c} {r['status']}" for c, r in sorted(results.items())))
    return JobOutcome(not gaps, summary, {"currencies": results, "gaps": gaps})


def report_ledger(ctx: ActorContext, log: Any, books: BookReader) -> str | None:
    """Tell health whether the ledger agrees with broker cash (a read-only pass); the
    level told, None when there was no answer."""
    try:
        status = ledger_status(
            read_facts(ctx), broker_cash_all, books.load(ctx.deps.bucket_ledger),
            ctx.deps.bucket_ledger.blockers(),
            ctx.settings().typed.satellite_reconcile_auto_correct_eur, ctx.clock.now())
        ctx.bus.tell(HEALTH_ACTOR, status)
        return status.level
    except (SatelliteError, MissingRate, ActorUnavailable) as exc:  # no answer
        # this time (the broker's cash unknown, a rate missing); the next sync tries again
        log.warning("ledger_health_unknown", error=repr(exc))
        return None


def initialize_from_broker(ctx: ActorContext, log: Any) -> dict[str, Any]:
    """Manual: currencies without any ledger row take the broker's cash into core
    ("initial balance from brokerage"); refused while anything is pending."""
    now = ctx.clock.now()
    blocked = ctx.deps.bucket_ledger.blockers()
    if blocked is not None:
        raise balances.BalanceError(f"not now: {blocked}")
    cash = broker_cash_all(read_facts(ctx))
    book = load_book(ctx.deps.bucket_ledger)
    done: dict[str, Decimal] = {}
    for entry in reconciliation.initialize_from_brokerage(book, cash, now):
        audit = {"currency": entry.currency, "status": "initialised",
                 "virtual_total": "0", "actual_total": decimal_to_str(entry.amount),
                 "difference": decimal_to_str(-entry.amount),
                 "adjustment": decimal_to_str(entry.amount),
                 "message": "initial balance from brokerage"}
        if write_operation(ctx, Operation((entry,), audit=audit)) is not None:
            done[entry.currency] = entry.amount
            log.info("bucket_ledger_initialised", currency=entry.currency,
                     amount=str(entry.amount))
    return {"initialised": done}
