"""Job declarations: what runs on a schedule, and which actor does the work.

An actor module lists its jobs in a module-level ``JOBS: tuple[JobSpec, ...]``; the
daemon registers them with the scheduler. The actor answers ``RunJob(name, run_id)``
with a ``JobOutcome``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class JobSpec:
    """A schedulable job.

    Exactly one schedule form is used:

    * ``every_minutes_key``: interval in minutes read from that setting (live-reloaded);
    * ``every_minutes``: a fixed interval;
    * ``daily_hour_key``: once a day at that setting's hour (UTC) and ``minute``,
      optionally only on ``weekday`` (0 = Monday) or ``month_day`` (1-28).
    * none of them: manual trigger only.
    """

    name: str
    actor: str
    description: str
    every_minutes_key: str | None = None
    every_minutes: float | None = None
    daily_hour_key: str | None = None
    minute: int = 0
    weekday: int | None = None
    month_day: int | None = None
    enabled_key: str | None = None
    timeout_s: float = 600.0
    run_at_startup: bool = False
    places_orders: bool = False
    """A run may send orders to the broker: triggered by hand, it needs the owner's
    confirmation like any other order-sending request."""
