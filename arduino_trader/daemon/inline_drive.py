"""Running a loop's coroutines on the threads that ask for them (backtests only).

A backtest's actors hand the I/O loop about a hundred coroutines a simulated day, and
nearly all of them finish without ever waiting: the store runs its statements inline and
the paper broker answers from memory. Each hand-off to the loop's thread and back costs
more than the coroutine itself. Here the asking thread runs such a coroutine itself, while
it holds the loop's *turn*:

- the loop's thread holds the turn whenever it runs callbacks and gives it up only while
  it waits for I/O (:class:`TurnSelector`), so a coroutine run elsewhere never runs
  alongside loop code, just as two callbacks of one loop never run together;
- while it runs, the coroutine sees the loop as its running loop, so futures, locks and
  tasks it creates belong to the loop; whatever it schedules wakes the loop afterwards
  (:class:`TurnLoop`);
- a coroutine that does have to wait is handed to the loop at that point, which finishes
  it as an ``asyncio.Task`` would (:func:`finish`).
"""

from __future__ import annotations

import asyncio
import contextvars
import selectors
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar, TypeVarTuple

T = TypeVar("T")
Ts = TypeVarTuple("Ts")


class TurnSelector(selectors.DefaultSelector):
    """The loop's selector: it gives up the turn while it waits for I/O."""

    def __init__(self, turn: threading.Lock) -> None:
        super().__init__()
        self._turn = turn

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        """Wait for I/O without the turn; take it back before the loop runs callbacks."""
        self._turn.release()
        try:
            return super().select(timeout)
        finally:
            self._turn.acquire()


class TurnLoop(asyncio.SelectorEventLoop):
    """A selector loop whose callbacks run only while its thread holds ``turn``.

    ``driver`` is the thread (ident) running one of its coroutines in its place, if any.
    Anything that thread schedules on the loop is noted, and :meth:`end_drive` wakes the
    loop for it: the loop may be asleep in ``select`` with a timeout computed before.
    """

    def __init__(self, turn: threading.Lock) -> None:
        super().__init__(TurnSelector(turn))
        self.turn = turn
        self.driver: int | None = None
        self._scheduled_by_driver = False

    def call_soon(self, callback: Callable[[*Ts], object], *args: *Ts,
                  context: contextvars.Context | None = None) -> asyncio.Handle:
        """As the base loop; notes a callback scheduled by the driving thread."""
        if self.driver is not None:
            self._scheduled_by_driver = True
        return super().call_soon(callback, *args, context=context)

    def call_at(self, when: float, callback: Callable[[*Ts], object],
                *args: *Ts, context: contextvars.Context | None = None) -> asyncio.TimerHandle:
        """As the base loop; notes a timer set by the driving thread."""
        if self.driver is not None:
            self._scheduled_by_driver = True
        return super().call_at(when, callback, *args, context=context)

    def begin_drive(self) -> asyncio.AbstractEventLoop | None:
        """Make this loop the calling thread's running loop (the caller holds the turn);
        returns the loop that was running there before."""
        before = asyncio._get_running_loop()
        asyncio._set_running_loop(self)
        self.driver = threading.get_ident()
        return before

    def end_drive(self, before: asyncio.AbstractEventLoop | None) -> None:
        """Undo :meth:`begin_drive`; wake the loop if the drive scheduled anything."""
        self.driver = None
        asyncio._set_running_loop(before)
        if self._scheduled_by_driver:
            self._scheduled_by_driver = False
            self.call_soon_threadsafe(_nothing)


def _nothing() -> None:
    """A callback whose only effect is the wake-up that schedules it."""


def first_step(loop: TurnLoop, coro: Coroutine[Any, Any, T],
               context: contextvars.Context) -> tuple[bool, Any]:
    """Run ``coro`` on the calling thread, holding the turn, up to its first wait.

    Returns ``(True, result)`` when it finished, ``(False, awaited)`` when it has to wait
    for ``awaited`` (a future, or None for a bare yield); its exception propagates.
    """
    with loop.turn:
        before = loop.begin_drive()
        try:
            return False, context.run(coro.send, None)
        except StopIteration as done:
            return True, done.value
        finally:
            loop.end_drive(before)


async def finish(coro: Coroutine[Any, Any, T], awaited: Any,
                 context: contextvars.Context) -> T:
    """Finish on the loop a coroutine that :func:`first_step` started and that now waits
    for ``awaited``; cancelling this cancels what it waits for, as ``Task.cancel`` does."""
    try:
        while True:
            error: BaseException | None = None
            if awaited is None:
                await asyncio.sleep(0)
            elif asyncio.isfuture(awaited):
                while not awaited.done():  # a cancelled task may still be cleaning up
                    try:
                        await asyncio.wait((awaited,))
                    except asyncio.CancelledError:
                        awaited.cancel()  # the coroutine sees it when it resumes
            else:
                error = RuntimeError(f"coroutine yielded {awaited!r}, which is not a future")
            try:
                awaited = (context.run(coro.send, None) if error is None
                           else context.run(coro.throw, error))
            except StopIteration as done:
                result: T = done.value
                return result
    finally:
        coro.close()
