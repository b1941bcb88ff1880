"""Core actor messages: liveness, jobs and health reports.

Every message is a frozen dataclass. Feature areas define their own messages in their
own modules of this package.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

HealthLevel = Literal["ok", "degraded", "failing"]


@dataclass(frozen=True)
class Ping:
    """Sent by the supervisor; an actor answers by telling health a :class:`Heartbeat`."""

    sent_at: datetime


@dataclass(frozen=True)
class Settle:
    """Answered (with None, nothing else done) once every message queued before it is
    handled: the bus's barrier for :meth:`~arduino_trader.daemon.bus.ActorBus.settle`."""


@dataclass(frozen=True)
class Heartbeat:
    """An actor processed its mailbox up to a :class:`Ping`, or is busy with ``busy``
    (a job started at ``busy_since`` with ``budget_s`` seconds to finish)."""

    actor: str
    at: datetime
    busy: str = ""
    busy_since: datetime | None = None
    budget_s: float = 0.0


@dataclass(frozen=True)
class RunJob:
    """Ask an actor to run one job; the reply is a :class:`JobOutcome`."""

    job: str
    run_id: str
    trigger: Literal["schedule", "manual", "startup"] = "schedule"
    budget_s: float = 0.0
    """The job's time budget: while it runs longer than a heartbeat, health hears the
    actor is busy with it and counts it alive until the budget is spent (0: the job is
    not announced, a long one makes the actor look dead)."""


@dataclass(frozen=True)
class JobOutcome:
    """What a job run did: a short summary and details for the status API."""

    ok: bool
    summary: str
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class JobFinished:
    """Published by the scheduler after every run."""

    job: str
    run_id: str
    ok: bool
    at: datetime
    duration_s: float
    summary: str


@dataclass(frozen=True)
class ComponentStatus:
    """A component's reachability or freshness, reported to the health monitor.

    ``name`` is e.g. ``"broker"``, ``"market_data"``; ``level`` ok/degraded/failing.
    """

    name: str
    level: HealthLevel
    message: str
    at: datetime


@dataclass(frozen=True)
class ActorLifecycle:
    """Told to health by the supervisor when an actor starts, dies, restarts or gives up."""

    actor: str
    event: Literal["started", "died", "restarted", "gave_up", "stopped"]
    at: datetime
    restarts: int = 0
    error: str = ""


@dataclass(frozen=True)
class GetHealth:
    """Ask the health monitor for a :class:`HealthReport`."""


@dataclass(frozen=True)
class CheckHealthNow:
    """Ask the health monitor to refresh disk and database checks immediately."""


@dataclass(frozen=True)
class HealthReport:
    """The derived health state."""

    level: HealthLevel
    reasons: tuple[str, ...]
    actors: dict[str, dict[str, Any]]
    components: dict[str, dict[str, Any]]
    jobs: dict[str, dict[str, Any]]
    checks: dict[str, Any]
    actors_alive: bool
    at: datetime


@dataclass(frozen=True)
class SettingsChanged:
    """Published after runtime settings changed (keys that changed)."""

    keys: tuple[str, ...]
