"""Heartbeats of an actor busy with a job on its own thread.

An actor's heartbeat answers the supervisor's :class:`Ping`, so a job that keeps the
actor's thread for longer than the heartbeat timeout (a first history seed from Yahoo,
a cash-flow sync during a broker outage) would look like a dead actor, and under the
systemd watchdog get the daemon killed. While a job with a budget runs, a :class:`JobBeat`
thread tells health every ``every_s`` seconds that the actor is busy with it (job, since
when, budget); health counts such an actor alive until the budget runs out and reports it
stuck past it. The job itself stays on the actor's thread: nothing about the actor's
one-message-at-a-time order changes. A job shorter than ``every_s`` sends nothing.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from arduino_trader.protocols.clock import Clock
from arduino_trader.protocols.messages import Heartbeat

BEAT_EVERY_S = 1.0
IDLE_EXIT_CHECK_S = 5.0  # an idle beat thread checks this often whether its actor ended


@dataclass
class _Job:
    name: str
    since: datetime
    budget_s: float
    next_beat: float
    beaten: bool = False


class JobBeat:
    """Busy heartbeats of one actor while it runs a job (see the module docstring)."""

    def __init__(self, actor: str, send: Callable[[Heartbeat], None], clock: Clock,
                 alive: Callable[[], bool], every_s: float = BEAT_EVERY_S) -> None:
        """``send`` delivers a heartbeat to health; ``alive`` tells whether the actor
        still runs (the beat thread ends with it)."""
        self._actor = actor
        self._send = send
        self._clock = clock
        self._alive = alive
        self._every = every_s
        self._cond = threading.Condition()
        self._job: _Job | None = None
        self._thread: threading.Thread | None = None

    def begin(self, job: str, budget_s: float) -> None:
        """``job`` started now with ``budget_s`` seconds to finish."""
        if budget_s <= 0:
            raise ValueError("a job's budget must be positive")
        with self._cond:
            self._job = _Job(job, self._clock.now(), budget_s,
                             time.monotonic() + self._every)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, daemon=True,
                                                name=f"beat-{self._actor}")
                self._thread.start()
            self._cond.notify()

    def end(self) -> None:
        """The job ended; a health that was told the actor was busy is told it is not."""
        with self._cond:
            job, self._job = self._job, None
            if job is not None and job.beaten:
                self._send(Heartbeat(self._actor, self._clock.now()))
            self._cond.notify()

    def _run(self) -> None:
        with self._cond:
            while True:
                job = self._job
                if job is None:
                    if not self._alive():
                        self._thread = None
                        return
                    self._cond.wait(IDLE_EXIT_CHECK_S)
                    continue
                wait = job.next_beat - time.monotonic()
                if wait > 0:
                    self._cond.wait(wait)
                    continue
                job.beaten = True
                job.next_beat = time.monotonic() + self._every
                self._send(Heartbeat(self._actor, self._clock.now(), busy=job.name,
                                     busy_since=job.since, budget_s=job.budget_s))


__all__ = ["BEAT_EVERY_S", "JobBeat"]
