"""Heartbeats of actors busy with a job on their own threads.

An actor's heartbeat answers the supervisor's :class:`Ping`, so a job that keeps the
actor's thread for longer than the heartbeat timeout (a first history seed from Yahoo,
a cash-flow sync during a broker outage) would look like a dead actor, and under the
systemd watchdog get the daemon killed. While a job with a budget runs, health is told
every ``every_s`` seconds that the actor is busy with it (job, since when, budget);
health counts such an actor alive until the budget runs out and reports it stuck past
it. The job itself stays on the actor's thread: nothing about the actor's
one-message-at-a-time order changes. A job shorter than ``every_s`` sends nothing.

One thread (:class:`BeatHub`) beats for every busy actor of the process: it runs while
some actor has a job and ends after ``idle_exit_s`` without one.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import structlog

from arduino_trader.protocols.clock import Clock
from arduino_trader.protocols.messages import Heartbeat

BEAT_EVERY_S = 1.0
IDLE_EXIT_S = 5.0  # the beat thread ends after this long without a job
_log = structlog.get_logger(component="job_beats")


@dataclass
class _Job:
    """One actor's running job and when its next busy heartbeat is due."""

    actor: str
    send: Callable[[Heartbeat], None]
    clock: Clock
    name: str
    since: datetime
    budget_s: float
    every_s: float
    next_beat: float
    beaten: bool = False
    failed: bool = False  # a beat of this job failed (logged once)

    def beat(self, now: float) -> None:
        self.beaten = True
        self.next_beat = now + self.every_s
        self.send(Heartbeat(self.actor, self.clock.now(), busy=self.name,
                            busy_since=self.since, budget_s=self.budget_s))


class BeatHub:
    """The one thread sending the busy heartbeats of every actor running a job."""

    def __init__(self, idle_exit_s: float = IDLE_EXIT_S) -> None:
        self._idle_exit_s = idle_exit_s
        self._cond = threading.Condition()
        self._jobs: dict[int, _Job] = {}  # by the id of the JobBeat that began it
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        """Whether the beat thread is running now."""
        with self._cond:
            return self._thread is not None

    def begin(self, owner: object, job: _Job) -> None:
        """``owner``'s job starts (replacing one it had); the thread starts if idle."""
        with self._cond:
            self._jobs[id(owner)] = job
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, daemon=True,
                                                name="job-beats")
                self._thread.start()
            self._cond.notify()

    def end(self, owner: object) -> _Job | None:
        """``owner``'s job ended: no more beats for it; the job, if it had one."""
        with self._cond:
            job = self._jobs.pop(id(owner), None)
            self._cond.notify()
            return job

    def _run(self) -> None:
        with self._cond:
            while True:
                if not self._jobs:
                    self._cond.wait(self._idle_exit_s)
                    if not self._jobs:
                        self._thread = None
                        return
                now = time.monotonic()
                for job in self._jobs.values():
                    if job.next_beat <= now:
                        try:
                            job.beat(now)
                        except Exception as exc:  # one actor's failed beat stops no other's
                            job.next_beat = now + job.every_s
                            job.failed, first = True, not job.failed
                            if first:
                                _log.warning("job_beat_failed", actor=job.actor,
                                             job=job.name, error=repr(exc))
                wait = min(job.next_beat for job in self._jobs.values()) - time.monotonic()
                if wait > 0:
                    self._cond.wait(wait)


_SHARED = BeatHub()


class JobBeat:
    """Busy heartbeats of one actor while it runs a job (see the module docstring)."""

    def __init__(self, actor: str, send: Callable[[Heartbeat], None], clock: Clock,
                 every_s: float = BEAT_EVERY_S, hub: BeatHub | None = None) -> None:
        """``send`` delivers a heartbeat to health; ``hub`` beats (the process's one by
        default)."""
        self._actor = actor
        self._send = send
        self._clock = clock
        self._every = every_s
        self._hub = hub or _SHARED

    def begin(self, job: str, budget_s: float) -> None:
        """``job`` started now with ``budget_s`` seconds to finish."""
        if budget_s <= 0:
            raise ValueError("a job's budget must be positive")
        self._hub.begin(self, _Job(self._actor, self._send, self._clock, job,
                                   self._clock.now(), budget_s, self._every,
                                   time.monotonic() + self._every))

    def end(self) -> None:
        """The job ended; a health that was told the actor was busy is told it is not."""
        job = self._hub.end(self)
        if job is not None and job.beaten:
            try:
                self._send(Heartbeat(self._actor, self._clock.now()))
            except Exception as exc:  # the job's own outcome is what the caller needs
                _log.warning("job_beat_failed", actor=self._actor, job=job.name,
                             error=repr(exc))


__all__ = ["BEAT_EVERY_S", "BeatHub", "JobBeat"]
