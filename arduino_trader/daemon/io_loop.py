"""The one asyncio event loop that owns all asynchronous I/O, in its own thread."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


class IoLoop:
    """Runs an asyncio loop in a dedicated thread; other threads submit coroutines.

    Implements :class:`arduino_trader.protocols.runtime.IoRunner`. It serves what is truly
    asynchronous (the admin API's server, the broker's and market data's network clients);
    the store is synchronous and never runs here.
    """

    def __init__(self, name: str = "io-loop") -> None:
        self._loop: asyncio.AbstractEventLoop = asyncio.new_event_loop()
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
        self._loop.run_forever()
        self._loop.close()

    def in_loop_thread(self) -> bool:
        """True when called from the loop's own thread."""
        return threading.current_thread() is self._thread

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
