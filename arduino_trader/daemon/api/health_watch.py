"""Streams ``health_changed`` when the health monitor's level or reasons change.

The monitor keeps its state to itself (it answers :class:`GetHealth`); while the API
runs, this task asks it every :data:`HEALTH_POLL_S` seconds and publishes the change to
the event hub, so stream clients need not poll.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

from arduino_trader.protocols.messages import HealthReport

from .event_hub import HEALTH_KIND, EventHub

HEALTH_POLL_S = 5.0
AskHealth = Callable[[], Awaitable[HealthReport | None]]


async def watch_health(hub: EventHub, ask: AskHealth, period_s: float = HEALTH_POLL_S) -> None:
    """Until cancelled or the hub closes: publish each change of (level, reasons). The
    first answer is the baseline (a client loads the current state when it connects); a
    monitor that does not answer counts as failing."""
    last: tuple[str, tuple[str, ...]] | None = None
    while not hub.closed.is_set():
        report = await ask()
        now = (report.level, tuple(report.reasons)) if report is not None else (
            "failing", ("health monitor is not answering",))
        if last is not None and now != last:
            hub.publish(HEALTH_KIND, {"level": now[0], "reasons": list(now[1]),
                                      "previous_level": last[0]})
        last = now
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(hub.closed.wait(), period_s)
