"""The optimiser's state as a health component: a plan whose optimiser failed (an
exception, or no usable data) falls back to heuristic opportunities only, which changes
decisions, so health shows ``optimizer`` degraded until a plan's optimiser succeeds."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Sequence
from datetime import datetime

from arduino_trader.protocols.messages import ComponentStatus
from arduino_trader.protocols.runtime import ActorUnavailable, Bus

from .base import HEALTH_ACTOR

COMPONENT = "optimizer"
_BUCKET = re.compile(r"^\[[^\]]+\] ")  # satellites' warnings carry "[bucket] "


def optimizer_status(warnings: Sequence[str], at: datetime) -> ComponentStatus:
    """``degraded`` naming the first optimiser failure among a plan's warnings, else ok."""
    failures = [w for w in warnings if _BUCKET.sub("", w).startswith("optimiser")]
    if failures:
        return ComponentStatus(COMPONENT, "degraded", f"last plan fell back: {failures[0]}"[:500],
                               at)
    return ComponentStatus(COMPONENT, "ok", "the last plan's optimiser succeeded", at)


def report_optimizer(bus: Bus, warnings: Sequence[str], at: datetime) -> None:
    """Tell the health monitor; planning goes on when it is not running."""
    with contextlib.suppress(ActorUnavailable):
        bus.tell(HEALTH_ACTOR, optimizer_status(warnings, at))
