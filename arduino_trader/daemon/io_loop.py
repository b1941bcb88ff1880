"""The one asyncio event loop that owns all asynchronous I/O, in its own thread."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import contextvars
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar, cast

from .inline_drive import TurnLoop, finish, first_step

T = TypeVar("T")


class IoLoop:
    """Runs an asyncio loop in a dedicated thread; other threads submit coroutines.

    Implements :class:`arduino_trader.protocols.runtime.IoRunner`.

    An ``inline`` loop (backtests only) lets the thread calling :meth:`run` run the
    coroutine itself, in the loop's turn, as far as its first real wait
    (:mod:`~arduino_trader.daemon.inline_drive`); the loop's thread finishes only the
    coroutines that do wait. That part runs to its end even past ``timeout``: on the loop
    too a step cannot be interrupted, but there the caller would stop waiting.
    """

    def __init__(self, name: str = "io-loop", *, inline: bool = False) -> None:
        self._turn_loop = TurnLoop(threading.Lock()) if inline else None
        self._loop: asyncio.AbstractEventLoop = self._turn_loop or asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._serve, name=name, daemon=True)
        self._started = threading.Event()

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The underlying event loop."""
        return self._loop

    def start(self) -> None:
        """Start the loop thread and wait until the loop runs."""
        self._thread.start()
        self._started.wait(5)

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.call_soon(self._started.set)
        # an inline loop's thread gives up its turn only while it waits for I/O
        with self._turn_loop.turn if self._turn_loop is not None else contextlib.nullcontext():
            self._loop.run_forever()
            self._loop.close()

    def in_loop_thread(self) -> bool:
        """True when called from the loop's own thread (or from inside a coroutine that
        this thread runs in the loop's place)."""
        return threading.current_thread() is self._thread or (
            self._turn_loop is not None and self._turn_loop.driver == threading.get_ident())

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Schedule ``coro`` on the loop; returns a thread-safe future."""
        return asyncio.run_coroutine_threadsafe(coro, self._loop)

    def run(self, coro: Coroutine[Any, Any, T], timeout: float) -> T:
        """Run ``coro`` on the loop and wait up to ``timeout`` seconds for its result.

        Must not be called from the loop thread (it would deadlock): raises RuntimeError.
        """
        if self.in_loop_thread():
            coro.close()
            raise RuntimeError("IoLoop.run called from the loop thread; await instead")
        if (self._turn_loop is not None and self._loop.is_running()
                and not self._loop.get_debug()):  # debug mode refuses foreign call_soon
            context = contextvars.copy_context()
            done, value = first_step(self._turn_loop, coro, context)
            if done:
                return cast(T, value)
            future = asyncio.run_coroutine_threadsafe(finish(coro, value, context),
                                                      self._loop)
        else:
            future = self.submit(coro)
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise TimeoutError(f"I/O operation timed out after {timeout:.1f}s") from None

    def stop(self, timeout: float = 5.0) -> None:
        """Cancel remaining tasks, stop the loop and join its thread."""
        if not self._thread.is_alive():
            return

        async def _cancel_all() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        try:
            self.submit(_cancel_all()).result(timeout)
        except (concurrent.futures.TimeoutError, RuntimeError):
            pass
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout)
