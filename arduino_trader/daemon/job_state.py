"""What the scheduler knows about one job, and when its running lock is stale.

A job that is running holds a lock (its run id): nothing else starts it. The lock is
*stale* when its holder is gone (the run's worker finished, was cancelled or never
started, yet the lock stayed) or when the run is older than the configured age.
"""

from __future__ import annotations

import threading
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from arduino_trader.config.settings import Settings
from arduino_trader.protocols.jobs import JobSpec

from .schedule import describe, is_enabled


class JobNotFound(KeyError):
    """No job of that name is registered."""


class JobAlreadyRunning(RuntimeError):
    """The job is running; the trigger was coalesced into the current run."""

    def __init__(self, job: str, run_id: str) -> None:
        super().__init__(f"job {job!r} is already running (run {run_id})")
        self.run_id = run_id


@dataclass
class JobState:
    """What the scheduler knows about one job."""

    spec: JobSpec
    running_run_id: str | None = None
    running_since: datetime | None = None
    # What executes the running run: the pool's future (triggered) or the calling
    # thread (run in the foreground); None until it is handed over.
    holder: Future[Any] | threading.Thread | None = None
    last_start: datetime | None = None
    last_finish: datetime | None = None
    last_ok: bool | None = None
    last_summary: str = ""
    last_duration_s: float | None = None
    consecutive_failures: int = 0
    runs: int = 0
    next_run_at: datetime | None = None

    def to_json(self, settings: Settings) -> dict[str, Any]:
        """The job as ``GET /api/system/jobs`` shows it."""
        enabled = is_enabled(self.spec, settings)
        return {
            "name": self.spec.name,
            "description": self.spec.description,
            "actor": self.spec.actor,
            "schedule": describe(self.spec, settings),
            "enabled": enabled,
            "places_orders": self.spec.places_orders,
            "status": "running" if self.running_run_id else "idle",
            "running_run_id": self.running_run_id,
            "running_since": _iso(self.running_since),
            "last_run": _iso(self.last_start),
            "last_finish": _iso(self.last_finish),
            "last_result": None if self.last_ok is None else ("ok" if self.last_ok else "failed"),
            "last_summary": self.last_summary,
            "last_duration_s": self.last_duration_s,
            "consecutive_failures": self.consecutive_failures,
            "runs": self.runs,
            "next_run": _iso(self.next_run_at) if enabled else None,
        }


def holder_gone(holder: Future[Any] | threading.Thread | None) -> bool:
    """True when nothing executes the run any more (a finished or cancelled future, a
    thread that ended). A run not yet handed over (None) still has its claimer."""
    if isinstance(holder, Future):
        return holder.done()
    if isinstance(holder, threading.Thread):
        return not holder.is_alive()
    return False


def stale_reason(job: JobState, now: datetime, max_age: timedelta) -> str | None:
    """Why ``job``'s running lock may be cleared, or None when it must stay."""
    if job.running_run_id is None:
        return None
    if holder_gone(job.holder):
        return "holder gone: nothing runs this job any more"
    if job.running_since is not None and now - job.running_since > max_age:
        minutes = int((now - job.running_since).total_seconds() // 60)
        return f"older than the configured age: running for {minutes} min"
    return None


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None
