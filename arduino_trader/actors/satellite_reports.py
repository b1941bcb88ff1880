"""What the satellite manager reports: JSON-ready reconciliation checks, allocation
settings and meta-allocator plans, and health's view of the ledger against broker cash."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Any

from arduino_trader.domain.satellites import meta_allocator, reconciliation
from arduino_trader.domain.satellites.balances import BalanceBook
from arduino_trader.protocols.messages import ComponentStatus
from arduino_trader.protocols.money import ZERO, decimal_to_str

from .satellite_facts import Facts


def ledger_status(facts: Facts, broker_cash: Callable[[Facts], dict[str, Decimal]],
                  book: BalanceBook, blocked_by: str | None, limit_eur: Decimal,
                  now: datetime) -> ComponentStatus:
    """The ``ledger`` component: every currency of the broker and the ledger reconciled
    read-only (nothing written); degraded, with each gap and the limit in the gap's
    currency, when a gap is beyond the auto-correct limit or has no rate."""
    cash = broker_cash(facts)
    level, message = reconciliation.ledger_health({c: reconciliation.reconcile(
        book, c, cash.get(c, ZERO), now, eur_per_unit=facts.rate_or_none(c),
        threshold_eur=limit_eur, blocked_by=blocked_by)
        for c in reconciliation.currencies_to_check(cash, book)})
    return ComponentStatus("ledger", level, message, now)


def check_json(check: reconciliation.ReconciliationCheck) -> dict[str, Any]:
    pct = check.difference_pct
    return {"currency": check.currency, "virtual_total": check.virtual_total,
            "actual_total": check.actual_total, "difference": check.difference,
            "difference_pct": "inf" if pct is None else pct,
            "is_reconciled": check.is_reconciled, "adjustments_made": check.adjustments_made,
            "timestamp": check.timestamp}


def allocation_json(alloc: Any) -> dict[str, Any]:
    return {k: (decimal_to_str(v) if isinstance(v, Decimal) else v)
            for k, v in alloc.__dict__.items()}


def plan_json(plan: meta_allocator.AllocationPlan, *, applied: bool) -> dict[str, Any]:
    return {"total_satellite_budget": plan.total_satellite_budget,
            "recommendations": [rec.__dict__ for rec in plan.recommendations],
            "dampening_factor": plan.dampening_factor,
            "evaluation_period_days": plan.evaluation_period_days,
            "satellites_evaluated": plan.satellites_evaluated,
            "satellites_improved": plan.satellites_improved,
            "satellites_reduced": plan.satellites_reduced,
            "timestamp": plan.timestamp, "applied": applied}
