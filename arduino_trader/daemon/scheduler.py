"""The job registry and scheduler: schedules, coalescing, run history.

Jobs are declared as :class:`JobSpec` and run by asking the owning actor with
``RunJob``. A job that is running is never started twice: a trigger while running is
refused (the API answers 409) and a due schedule is skipped.

On a simulated clock (:class:`~arduino_trader.adapters.clock.StepClock`: backtests and
the research daemon driven by one) the scheduler is *stepped*: only the simulated day's
jobs (:data:`SIMULATED_DAY_JOBS`) are scheduled, and every due one runs to completion,
the events it caused included (the bus settles), one after the other in that order
(:meth:`Scheduler.drain`), whether the ticking thread or the step driver finds them due
first — so the same days give the same orders.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any, Literal

import structlog

from arduino_trader.adapters.clock import StepClock
from arduino_trader.config.settings import Settings
from arduino_trader.protocols.clock import Clock
from arduino_trader.protocols.jobs import JobSpec
from arduino_trader.protocols.messages import JobFinished, JobOutcome, RunJob
from arduino_trader.protocols.runtime import ActorUnavailable, SettlingBus
from arduino_trader.protocols.store import Database, StoreError

from .job_state import JobAlreadyRunning, JobNotFound, JobState, stale_reason
from .schedule import check_keys, is_enabled, next_run

log = structlog.get_logger(component="scheduler")

Trigger = Literal["schedule", "manual", "startup"]
# What a simulated trading day runs, in this order: market data, deposits, snapshot,
# plan, one order through every safety layer, fills.
# The sync cycle syncs the cash flows itself (its second step, as on wall time), so the
# simulated day does not run the cash_flow_sync job on its own as well.
SIMULATED_DAY_JOBS: tuple[str, ...] = (
    "sync_fx", "sync_securities_data", "sync_prices", "sync_cycle",
    "planner", "autonomous_execution", "order_follow_up")


class Scheduler:
    """Runs registered jobs on their schedules and on demand."""

    def __init__(self, *, bus: SettlingBus, store: Database, clock: Clock,
                 settings: Callable[[], Settings], max_workers: int = 4,
                 tick_seconds: float = 0.5, stepped: Sequence[str] | None = None) -> None:
        """``stepped``: the jobs a simulated clock runs, in order (default: on a
        :class:`StepClock` :data:`SIMULATED_DAY_JOBS`, else None: ordinary scheduling)."""
        self._bus = bus
        self._store = store
        self._clock = clock
        self._settings = settings
        self._jobs: dict[str, JobState] = {}
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="job")
        self._tick = tick_seconds
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        if stepped is None and isinstance(clock, StepClock):
            stepped = SIMULATED_DAY_JOBS
        self._stepped = tuple(stepped) if stepped is not None else None
        self._serial = threading.RLock()  # one drain at a time (ticking thread or driver)
        self._drained: tuple[datetime, dict[str, JobOutcome]] | None = None

    # registry -------------------------------------------------------------------
    def register(self, spec: JobSpec) -> None:
        """Add a job; names are unique."""
        with self._lock:
            if spec.name in self._jobs:
                raise ValueError(f"job {spec.name!r} registered twice")
            check_keys(spec)
            state = JobState(spec)
            # Stepped: nothing is due at the start moment (the driver's first step is).
            first = replace(spec, run_at_startup=False) if self._stepped is not None else spec
            state.next_run_at = self._next(first, self._settings(), self._clock.now(), None)
            self._jobs[spec.name] = state

    def names(self) -> list[str]:
        """Registered job names."""
        with self._lock:
            return sorted(self._jobs)

    def states(self) -> list[dict[str, Any]]:
        """Every job's state, JSON-ready."""
        settings = self._settings()
        with self._lock:
            return [self._jobs[name].to_json(settings) for name in sorted(self._jobs)]

    def state(self, name: str) -> dict[str, Any]:
        """One job's state; :class:`JobNotFound` if unknown."""
        with self._lock:
            job = self._jobs.get(name)
            if job is None:
                raise JobNotFound(name)
            return job.to_json(self._settings())

    def reschedule(self) -> None:
        """Recompute every next run from the current settings (after ``job_*`` changes)."""
        settings = self._settings()
        now = self._clock.now()
        with self._lock:
            for job in self._jobs.values():
                job.next_run_at = self._next(job.spec, settings, now, job.last_start)
        log.info("jobs_rescheduled", jobs=len(self._jobs))

    # running --------------------------------------------------------------------
    def trigger(self, name: str, trigger: Trigger = "manual") -> str:
        """Start a run now in the background; returns its run id.

        Raises :class:`JobNotFound` or :class:`JobAlreadyRunning`.
        """
        run_id = self._claim(name, trigger)
        try:
            future = self._pool.submit(self._execute, name, run_id, trigger)
        except RuntimeError:  # the pool is shut down: nothing will run it
            self._release(name, run_id)
            raise
        with self._lock:
            if self._jobs[name].running_run_id == run_id:
                self._jobs[name].holder = future
        return run_id

    def run_now(self, name: str, trigger: Trigger = "manual") -> JobOutcome:
        """Run a job in the calling thread and return its outcome (tests, backtests)."""
        run_id = self._claim(name, trigger)
        with self._lock:
            self._jobs[name].holder = threading.current_thread()
        return self._execute(name, run_id, trigger)

    def _release(self, name: str, run_id: str) -> bool:
        """Drop ``run_id``'s lock if it still holds it; True when it did."""
        with self._lock:
            job = self._jobs[name]
            if job.running_run_id != run_id:
                return False
            job.running_run_id = job.running_since = job.holder = None
            return True

    def clear_stale_locks(self, max_age: timedelta) -> list[dict[str, Any]]:
        """Clear every running lock whose holder is gone or that is older than
        ``max_age``; returns what was cleared (job, run id, since, reason). The cleared
        run is closed in the history as failed; if its worker still finishes later, it
        no longer touches the job's lock or state."""
        now = self._clock.now()
        cleared: list[dict[str, Any]] = []
        with self._lock:
            for name in sorted(self._jobs):
                job = self._jobs[name]
                reason = stale_reason(job, now, max_age)
                if reason is None or job.running_run_id is None:
                    continue
                cleared.append({"job": name, "run_id": job.running_run_id,
                                "running_since": job.running_since, "reason": reason})
                job.running_run_id = job.running_since = job.holder = None
        for entry in cleared:
            log.warning("job_lock_cleared", job=entry["job"], run_id=entry["run_id"],
                        reason=entry["reason"])
            self._record_finish(entry["run_id"], JobOutcome(False, "lock cleared: "
                                                            + entry["reason"]), now, 0.0)
        return cleared

    def _claim(self, name: str, trigger: Trigger) -> str:
        with self._lock:
            job = self._jobs.get(name)
            if job is None:
                raise JobNotFound(name)
            if job.running_run_id is not None:
                raise JobAlreadyRunning(name, job.running_run_id)
            run_id = uuid.uuid4().hex[:16]
            job.running_run_id = run_id
            job.running_since = self._clock.now()
            job.last_start = job.running_since
            return run_id

    def _execute(self, name: str, run_id: str, trigger: Trigger) -> JobOutcome:
        with self._lock:
            spec = self._jobs[name].spec
            started = self._jobs[name].running_since or self._clock.now()
        t0 = time.monotonic()
        bound = log.bind(job=name, run_id=run_id, trigger=trigger)
        bound.info("job_started")
        self._record_start(name, run_id, trigger, started)
        try:
            request = RunJob(name, run_id, trigger, budget_s=spec.timeout_s)
            outcome = self._bus.ask(spec.actor, request, spec.timeout_s)
            if not isinstance(outcome, JobOutcome):
                outcome = JobOutcome(False, f"actor answered {type(outcome).__name__}, "
                                            "not a JobOutcome")
        except ActorUnavailable as exc:
            reason = "cancelled: the daemon is stopping" if self._stop.is_set() else \
                f"{type(exc).__name__}: {exc}"
            outcome = JobOutcome(False, reason)
        except Exception as exc:
            outcome = JobOutcome(False, f"{type(exc).__name__}: {exc}")
        duration = time.monotonic() - t0
        finished = self._clock.now()
        settings = self._settings()
        with self._lock:
            job = self._jobs[name]
            owner = job.running_run_id == run_id  # False: cleared as stale meanwhile
            if owner:
                job.running_run_id = job.running_since = job.holder = None
                job.last_finish = finished
                job.last_ok = outcome.ok
                job.last_summary = outcome.summary
                job.last_duration_s = round(duration, 3)
                job.runs += 1
                job.consecutive_failures = 0 if outcome.ok else job.consecutive_failures + 1
                job.next_run_at = self._next(spec, settings, finished, job.last_start)
            failures = job.consecutive_failures
        if not owner:
            bound.warning("job_finished_after_lock_cleared", ok=outcome.ok,
                          summary=outcome.summary)
            self._record_finish(run_id, outcome, finished, duration)
            return outcome
        if outcome.ok:
            bound.info("job_finished", duration_s=round(duration, 3), summary=outcome.summary)
        else:
            bound.error("job_failed", duration_s=round(duration, 3), summary=outcome.summary,
                        consecutive_failures=failures)
        self._record_finish(run_id, outcome, finished, duration)
        self._bus.publish(JobFinished(name, run_id, outcome.ok, finished, duration,
                                      outcome.summary))
        return outcome

    def _record_start(self, name: str, run_id: str, trigger: str, at: datetime) -> None:
        try:
            self._store.execute(
                "INSERT INTO job_runs (run_id, job, trigger, started_at) VALUES (?, ?, ?, ?)",
                (run_id, name, trigger, int(at.timestamp())))
        except (StoreError, TimeoutError, RuntimeError) as exc:
            log.warning("job_history_write_failed", job=name, error=str(exc))

    def _record_finish(self, run_id: str, outcome: JobOutcome, at: datetime,
                       duration: float) -> None:
        try:
            self._store.execute(
                "UPDATE job_runs SET finished_at = ?, ok = ?, duration_s = ?, summary = ? "
                "WHERE run_id = ?",
                (int(at.timestamp()), int(outcome.ok), duration, outcome.summary[:1000],
                 run_id))
        except (StoreError, TimeoutError, RuntimeError) as exc:
            log.warning("job_history_write_failed", run_id=run_id, error=str(exc))

    def due_jobs(self, now: datetime) -> list[str]:
        """Names of enabled, idle jobs whose next run is at or before ``now``."""
        settings = self._settings()
        due: list[str] = []
        with self._lock:
            for name, job in self._jobs.items():
                if (is_enabled(job.spec, settings) and job.running_run_id is None
                        and job.next_run_at is not None and job.next_run_at <= now):
                    due.append(name)
        return sorted(due)

    def _next(self, spec: JobSpec, settings: Settings, now: datetime,
              last_start: datetime | None) -> datetime | None:
        """The job's next run; stepped, jobs outside the simulated day are manual only."""
        if self._stepped is not None and spec.name not in self._stepped:
            return None
        return next_run(spec, settings, now=now, last_start=last_start)

    @property
    def stepped(self) -> tuple[str, ...] | None:
        """The simulated day's jobs in order, or None when scheduling on wall time."""
        return self._stepped

    @contextmanager
    def holding(self) -> Iterator[None]:
        """Keep the ticking thread from starting due jobs (the step driver moves the clock
        and books the day's deposit inside, then calls :meth:`drain`)."""
        with self._serial:
            yield

    def drain(self) -> dict[str, JobOutcome]:
        """Stepped: run every due job to completion, one after the other in the
        simulated day's order; returns the outcomes of the jobs run at this clock moment
        (by this call or by the ticking thread before it)."""
        return self._drain()[0]

    def _drain(self) -> tuple[dict[str, JobOutcome], list[str]]:
        if self._stepped is None:
            raise RuntimeError("drain() needs a stepped (simulated-clock) scheduler")
        ran: list[str] = []
        with self._serial:
            now = self._clock.now()
            if self._drained is None or self._drained[0] != now:
                self._drained = (now, {})
            outcomes = self._drained[1]
            due = set(self.due_jobs(now))
            for name in self._stepped:
                if name not in due or self._stop.is_set():
                    continue
                try:
                    outcomes[name] = self.run_now(name, "schedule")
                except (JobAlreadyRunning, JobNotFound):  # a manual trigger is running it
                    continue
                ran.append(name)
                # The job's events (and theirs) are handled before the next job reads
                # what they wrote: the same days give the same orders on any machine.
                if not self._bus.settle(self._jobs[name].spec.timeout_s):
                    log.warning("job_events_unsettled", job=name)
            return dict(outcomes), ran

    def run_due(self) -> list[str]:
        """Start every due job in the background (stepped: run them in order, see
        :meth:`drain`); returns the started names."""
        if self._stepped is not None:
            return self._drain()[1]
        started: list[str] = []
        for name in self.due_jobs(self._clock.now()):
            try:
                self.trigger(name, "schedule")
                started.append(name)
            except JobAlreadyRunning:
                continue
        return started

    # lifecycle -------------------------------------------------------------------
    def close_interrupted_runs(self) -> int:
        """Mark runs left unfinished by a previous process as failed (interrupted)."""
        now = int(self._clock.now().timestamp())
        try:
            return int(self._store.execute(
                "UPDATE job_runs SET finished_at = ?, ok = 0, "
                "summary = 'interrupted: the daemon stopped during the run' "
                "WHERE finished_at IS NULL", (now,)))
        except (StoreError, TimeoutError, RuntimeError) as exc:
            log.warning("job_history_write_failed", error=str(exc))
            return 0

    def start(self) -> None:
        """Start the ticking thread."""
        self._thread = threading.Thread(target=self._loop, name="scheduler", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self._tick):
            try:
                self.run_due()
            except Exception as exc:  # the scheduler thread must survive anything
                log.error("scheduler_tick_failed", error=repr(exc))

    def stop(self, timeout: float = 5.0) -> None:
        """Stop scheduling; running jobs are left to finish (not waited beyond timeout)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self._pool.shutdown(wait=False, cancel_futures=True)

    def running(self) -> list[str]:
        """Names of jobs running now."""
        with self._lock:
            return sorted(n for n, j in self._jobs.items() if j.running_run_id)
