"""Long work inside an actor without looking dead: a worker thread does the work while
the actor's own thread keeps telling health it is busy (job, since when, budget).

Health counts a busy actor as alive while its heartbeats keep coming and its budget has
not run out; past the budget the work is cancelled (its cancel event is set and its
result discarded) and :class:`BudgetExceeded` is raised for the actor to report.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime
from typing import Generic, TypeVar

from arduino_trader.protocols.messages import Heartbeat
from arduino_trader.protocols.runtime import ActorUnavailable

from .base import HEALTH_ACTOR, ActorContext

T = TypeVar("T")
BEAT_MAX_S = 1.0


class BudgetExceeded(RuntimeError):
    """A job ran past its time budget and was cancelled."""

    def __init__(self, job: str, budget_s: float, why: str = "") -> None:
        super().__init__(why or f"{job} ran past its budget of {budget_s:g} s and was "
                         "cancelled")
        self.job = job
        self.budget_s = budget_s


class _Worker(Generic[T]):
    """One unit of work on its own daemon thread."""

    def __init__(self, job: str, work: Callable[[threading.Event], T]) -> None:
        self.cancel = threading.Event()
        self.done = threading.Event()
        self.result: T | None = None
        self.error: BaseException | None = None
        self._work = work
        self.thread = threading.Thread(target=self._run, name=f"busy-{job}", daemon=True)

    def _run(self) -> None:
        try:
            self.result = self._work(self.cancel)
        except BaseException as exc:  # handed to the actor thread, which re-raises it
            self.error = exc
        finally:
            self.done.set()


class BusyRunner:
    """Runs an actor's long jobs one at a time within a budget, beating while they run."""

    def __init__(self, ctx: ActorContext, actor: str) -> None:
        self._ctx = ctx
        self._actor = actor
        self._abandoned: _Worker[object] | None = None

    @property
    def abandoned_running(self) -> bool:
        """True while a cancelled job's thread has not finished yet."""
        return self._abandoned is not None and not self._abandoned.done.is_set()

    def _beat(self, job: str, since: datetime | None, budget_s: float) -> None:
        try:
            self._ctx.bus.tell(HEALTH_ACTOR, Heartbeat(
                self._actor, self._ctx.clock.now(), busy=job,
                busy_since=since if job else None, budget_s=budget_s if job else 0.0))
        except ActorUnavailable:
            pass

    def run(self, job: str, budget_s: float, work: Callable[[threading.Event], T],
            beat_every_s: float = BEAT_MAX_S) -> T:
        """``work(cancel)``'s result; raises what it raised, or :class:`BudgetExceeded`
        when ``budget_s`` (on the actor clock's monotonic counter) passes first.

        ``work`` should return early once ``cancel`` is set; if it cannot, its thread
        is left to finish and its result is dropped."""
        if budget_s <= 0:
            raise ValueError("a job's budget must be positive")
        worker: _Worker[T] = _Worker(job, work)
        clock = self._ctx.clock
        deadline = clock.monotonic() + budget_s
        since = clock.now()
        self._beat(job, since, budget_s)
        worker.thread.start()
        try:
            while not worker.done.wait(beat_every_s):
                stopping = self._ctx.stopping.is_set()
                if stopping or clock.monotonic() >= deadline:
                    worker.cancel.set()
                    self._abandoned = worker  # type: ignore[assignment]
                    raise BudgetExceeded(job, budget_s, f"{job} cancelled: the daemon is "
                                         "stopping" if stopping else "")
                self._beat(job, since, budget_s)
        finally:
            self._beat("", None, 0.0)
        if worker.error is not None:
            raise worker.error
        return worker.result  # type: ignore[return-value]


__all__ = ["BudgetExceeded", "BusyRunner"]
