"""The demo says what it is waiting for: after each plan, if the plan's first order
would meet a closed market, when that market opens next and which orders will be sent
then (research mode: to the paper broker). While the market is open it says nothing:
the autonomous execution's own log lines and job outcome show the trades."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from arduino_trader.actors.base import ActorContext, BaseActor, handles
from arduino_trader.adapters.store import securities_repo
from arduino_trader.protocols.planning import PlannedStep, PlanReady

from .supervisor import ActorSpec

NARRATOR = "demo_narrator"


def describe(step: PlannedStep) -> str:
    """``BUY 5 MSFT.US (≈ 1234 EUR)``."""
    return f"{step.side} {step.quantity} {step.symbol} (≈ {step.estimated_value_eur:.0f} EUR)"


class DemoNarrator(BaseActor):
    """Logs ``demo_market_closed`` with the next open and the orders waiting for it."""

    name = NARRATOR
    needs = ("store", "calendars")
    ctx: ActorContext

    def __init__(self, ctx: ActorContext) -> None:
        super().__init__(ctx)
        calendars = ctx.deps.calendars
        assert calendars is not None  # BaseActor checked ``needs``
        self.calendars = calendars

    def _mic(self, isin: str) -> str:
        security = securities_repo.get_security(self.ctx.deps.store, isin)
        return str((security or {}).get("mic") or "")

    def waiting(self, plan: PlanReady, now: datetime) -> dict[str, Any] | None:
        """What the log line says, or None when the first order's market is open."""
        if not plan.steps:
            return None
        calendars = self.calendars
        mic = self._mic(plan.steps[0].isin)
        if not mic or calendars.is_tradable(mic, now):
            return None
        opens = calendars.next_open(mic, now)
        return {"exchange": mic, "next_open": opens.isoformat() if opens else None,
                "will_send": [describe(s) for s in plan.steps], "plan_id": plan.plan_id}

    @handles(PlanReady)
    def _on_plan(self, msg: PlanReady) -> None:
        said = self.waiting(msg, self.ctx.clock.now())
        if said is not None:
            self.log.info("demo_market_closed", **said,
                          message=f"{said['exchange']} is closed; the next session opens at "
                                  f"{said['next_open']}; then the demo sends (research "
                                  f"mode, paper broker): {'; '.join(said['will_send'])}")


def with_narrator(specs: list[ActorSpec]) -> list[ActorSpec]:
    """``specs`` plus the narrator, which the health monitor then expects too."""
    health = specs[0]
    expected = (*health.kwargs["expected"], NARRATOR)
    narrator = ActorSpec(NARRATOR, DemoNarrator, {}, depends_on=("health",),
                         subscriptions=(PlanReady,))
    return [replace(health, kwargs={**health.kwargs, "expected": expected}), *specs[1:],
            narrator]
