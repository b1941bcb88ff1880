"""Allocation facts of the account and the ``concentration_check`` job.

Positions and cash are valued in EUR with the stored rates (a missing rate raises, never
1:1); country and industry come from the securities table; shares are of the whole
portfolio (positions + cash). An alert is logged once per change of level (error only at
or over the hard limit, warning for early notice, info when it clears) and the alerts in
force are listed in the job outcome, which the status API shows; acknowledged ones are
counted apart (``POST /api/allocation/alerts/{type}/{name}/acknowledge``).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from arduino_trader.adapters.store import concentration_repo, securities_repo
from arduino_trader.domain.allocation import Holding, concentration_alerts
from arduino_trader.domain.cash_flows.fx import MissingRate, Rates
from arduino_trader.domain.concentration_watch import LEVEL_NAMES
from arduino_trader.protocols.broker import AccountSnapshot
from arduino_trader.protocols.broker_errors import BROKER_CALL_FAILURES
from arduino_trader.protocols.messages import JobOutcome
from arduino_trader.protocols.store import Database

from .base import ActorContext
from .fx_rules import rate_table

BROKER_TIMEOUT_S = 60.0


def build_holdings(account: AccountSnapshot, secs: Mapping[str, Mapping[str, Any]],
                   rates: Rates) -> list[Holding]:
    """EUR-valued positions with their country and industries (raises MissingRate)."""
    out: list[Holding] = []
    for p in account.positions:
        if p.quantity <= 0:
            continue
        sec = secs.get(p.symbol, {})
        out.append(Holding(p.symbol, p.market_value * rates.eur_per(p.currency),
                           str(sec.get("country") or ""), str(sec.get("industry") or "")))
    return out


def cash_eur(account: AccountSnapshot, rates: Rates) -> Decimal:
    """Every cash balance in EUR (negative ones included; raises MissingRate)."""
    return sum((c.amount * rates.eur_per(c.currency) for c in account.cash), Decimal(0))


def securities_by_symbol(db: Database) -> dict[str, dict[str, Any]]:
    """Every security keyed by broker symbol."""
    return {s["symbol"]: s for s in securities_repo.list_securities(db)}


def run_concentration(ctx: ActorContext, log: Any) -> JobOutcome:
    """Concentration alerts of the configured broker's account."""
    db = ctx.deps.store
    broker = ctx.deps.broker
    try:
        account = ctx.io.run(broker.account(), BROKER_TIMEOUT_S)
    except BROKER_CALL_FAILURES as exc:
        return JobOutcome(False, f"broker unavailable: {exc}", {"broker_unavailable": True})
    rates = rate_table(ctx, db, latest_only=True)
    secs = securities_by_symbol(db)
    try:
        alerts = concentration_alerts(build_holdings(account, secs, rates),
                                      cash_eur(account, rates))
    except MissingRate as exc:
        return JobOutcome(False, f"missing FX rate: {exc}", {"missing_rate": str(exc)})
    changes = concentration_repo.record_check(db, alerts, ctx.clock.now())
    for change in changes:
        a = change.alert
        getattr(log, change.log_level)(
            "concentration_alert" if a else "concentration_alert_cleared",
            type=change.key[0], name=change.key[1], level=LEVEL_NAMES[change.level],
            previous=LEVEL_NAMES[change.previous],
            **({"current_pct": str(a.current_pct), "limit_pct": str(a.limit_pct),
                "needs_action": a.needs_action} if a else {}))
    rows = concentration_repo.list_alerts(db)
    open_rows = [r for r in rows if not r["acknowledged"]]
    summary = "no concentration alerts" if not open_rows else "; ".join(
        f"{r['severity']} {r['type']} {r['name']} {r['current_pct']} (limit {r['limit_pct']})"
        for r in open_rows)
    if len(rows) > len(open_rows):
        summary += f" ({len(rows) - len(open_rows)} acknowledged)"
    return JobOutcome(True, summary, {"alerts": rows, "changes": len(changes)})
