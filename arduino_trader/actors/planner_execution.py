"""Autonomous execution's send: one pending recommendation goes to the executor as a
``SubmitOrder`` under a key derived from the plan (a retried run is a ``duplicate``,
never a second order); placed or duplicate marks it executed."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from arduino_trader.adapters.store import plan_repo
from arduino_trader.protocols.execution import OrderIntent, OrderResult, SubmitOrder
from arduino_trader.protocols.messages import JobOutcome

from .base import ActorContext

EXECUTOR_TIMEOUT_S = 300.0


def submit_step(ctx: ActorContext, rec: Any, replanned: bool, log: Any) -> JobOutcome:
    """Send the recommendation ``rec`` to the executor; the job's outcome."""
    key = (f"plan:{rec['portfolio_hash']}|{rec['step']}|{rec['isin']}|{rec['side']}|"
           f"{rec['quantity']}")
    intent = OrderIntent(rec["isin"], rec["symbol"], rec["side"],
                         Decimal(int(rec["quantity"])), "autonomous")
    answer = ctx.bus.ask("executor", SubmitOrder(intent, key, rec["reason"],
                                                 rec["bucket_id"]),
                         EXECUTOR_TIMEOUT_S)
    if not isinstance(answer, OrderResult):
        return JobOutcome(False, f"unexpected executor answer: {answer!r}")
    details: dict[str, Any] = {"intent_key": key, "status": answer.status,
                               "state": answer.state, "order_id": answer.client_order_id,
                               "symbol": rec["symbol"], "side": rec["side"],
                               "quantity": rec["quantity"], "replanned": replanned,
                               "bucket_id": rec["bucket_id"]}
    if answer.status in ("placed", "duplicate"):
        store = ctx.deps.store
        marked = plan_repo.mark_executed(
            store, rec["symbol"], rec["side"], rec["portfolio_hash"],
            ctx.clock.now())
        log.info("autonomous_order", **details, marked=marked)
        return JobOutcome(True, f"{rec['side']} {rec['quantity']} {rec['symbol']}: "
                          f"{answer.status} ({answer.state})", details)
    if answer.status == "blocked":
        details |= {"layer": answer.layer, "code": answer.code}
        return JobOutcome(True, f"{rec['side']} {rec['quantity']} {rec['symbol']} blocked "
                          f"at {answer.layer}/{answer.code}: {answer.message}", details)
    details |= {"code": answer.code}
    return JobOutcome(False, f"{rec['side']} {rec['quantity']} {rec['symbol']} failed: "
                      f"{answer.message}", details)
