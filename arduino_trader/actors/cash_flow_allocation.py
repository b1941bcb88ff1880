"""Allocation facts of the account and the ``concentration_check`` job (spec §5.3).

Positions are valued in EUR with the stored rates (a missing rate raises, never 1:1);
country and industry come from the securities table. Each alert is logged (warning, or
error when critical) and listed in the job outcome, which the status API shows.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from arduino_trader.adapters.store import market_repo
from arduino_trader.domain.allocation import Holding, concentration_alerts
from arduino_trader.domain.cash_flows.fx import MissingRate, Rates
from arduino_trader.protocols.broker import AccountSnapshot, Broker
from arduino_trader.protocols.messages import JobOutcome
from arduino_trader.protocols.store import Database

from .base import ActorContext
from .fx_rules import rate_table

STORE_TIMEOUT_S = 30.0
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


async def securities_by_symbol(db: Database) -> dict[str, dict[str, Any]]:
    """Every security keyed by broker symbol."""
    return {s["symbol"]: s for s in await market_repo.list_securities(db)}


def run_concentration(ctx: ActorContext, log: Any) -> JobOutcome:
    """Concentration alerts of the configured broker's account."""
    db: Database = ctx.resource("store")
    broker: Broker = ctx.resource("broker")
    try:
        account = ctx.io.run(broker.account(), BROKER_TIMEOUT_S)
    except Exception as exc:
        return JobOutcome(False, f"broker unavailable: {exc}", {"broker_unavailable": True})
    rates = rate_table(ctx, db, latest_only=True)
    secs = ctx.io.run(securities_by_symbol(db), STORE_TIMEOUT_S)
    try:
        alerts = concentration_alerts(build_holdings(account, secs, rates))
    except MissingRate as exc:
        return JobOutcome(False, f"missing FX rate: {exc}", {"missing_rate": str(exc)})
    rows = [{"type": a.type, "name": a.name, "current_pct": str(a.current_pct),
             "limit_pct": str(a.limit_pct), "alert_threshold_pct": str(a.alert_threshold_pct),
             "severity": a.severity} for a in alerts]
    for row in rows:
        (log.error if row["severity"] == "critical" else log.warning)(
            "concentration_alert", **row)
    summary = "no concentration alerts" if not rows else "; ".join(
        f"{r['severity']} {r['type']} {r['name']} {r['current_pct']} (limit {r['limit_pct']})"
        for r in rows)
    return JobOutcome(True, summary, {"alerts": rows})
