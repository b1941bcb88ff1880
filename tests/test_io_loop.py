"""The I/O loop: coroutines from other threads run on the loop's own thread."""

from __future__ import annotations

import asyncio
import contextvars
import threading
from collections.abc import Iterator

import pytest

from arduino_trader.daemon.io_loop import IoLoop

VAR: contextvars.ContextVar[str] = contextvars.ContextVar("VAR", default="unset")


@pytest.fixture
def io() -> Iterator[IoLoop]:
    loop = IoLoop()
    loop.start()
    yield loop
    loop.stop()


async def _value(x: int) -> int:
    return x * 2


async def _fail_at_once() -> None:
    raise ValueError("at once")


async def _fail_after_wait() -> None:
    await asyncio.sleep(0.01)
    raise ValueError("after a wait")


def test_results_and_errors_reach_the_caller(io: IoLoop) -> None:
    assert io.run(_value(21), 5) == 42
    with pytest.raises(ValueError, match="at once"):
        io.run(_fail_at_once(), 5)
    with pytest.raises(ValueError, match="after a wait"):
        io.run(_fail_after_wait(), 5)


def test_a_coroutine_that_waits_finishes_on_the_loop(io: IoLoop) -> None:
    async def waits() -> tuple[int, int]:
        fut: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        asyncio.get_running_loop().call_later(0.02, fut.set_result, 7)
        got = await fut
        await asyncio.sleep(0)  # a bare yield, then more work
        lock = asyncio.Lock()
        async with lock:
            await asyncio.sleep(0.01)
        return got, threading.get_ident()

    value, finished_on = io.run(waits(), 5)
    assert value == 7
    assert finished_on == io._thread.ident


def test_a_timeout_cancels_the_waiting_coroutine(io: IoLoop) -> None:
    cleaned = threading.Event()
    seen: list[type[BaseException]] = []

    async def forever() -> None:
        try:
            await asyncio.sleep(3600)
        except BaseException as exc:
            seen.append(type(exc))
            raise
        finally:
            cleaned.set()

    with pytest.raises(TimeoutError):
        io.run(forever(), 0.1)
    assert cleaned.wait(5)
    assert seen == [asyncio.CancelledError]


def test_a_timeout_waits_for_a_cancelled_task_to_clean_up(io: IoLoop) -> None:
    seen: list[str] = []
    done = threading.Event()

    async def child() -> None:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            await asyncio.sleep(0.01)  # clean-up that itself waits
            seen.append("child cleaned up")
            raise

    async def parent() -> None:
        try:
            await asyncio.get_running_loop().create_task(child())
        except asyncio.CancelledError:
            seen.append("parent cancelled")
            raise
        finally:
            done.set()

    with pytest.raises(TimeoutError):
        io.run(parent(), 0.1)
    assert done.wait(5)
    assert seen == ["child cleaned up", "parent cancelled"]


def test_run_from_inside_a_coroutine_is_refused(io: IoLoop) -> None:
    async def nested() -> None:
        io.run(_value(1), 1)

    with pytest.raises(RuntimeError, match="loop thread"):
        io.run(nested(), 5)


def test_context_variables_stay_inside_the_coroutine(io: IoLoop) -> None:
    async def sets() -> str:
        VAR.set("inside")
        await asyncio.sleep(0)
        return VAR.get()

    assert io.run(sets(), 5) == "inside"
    assert VAR.get() == "unset"


def test_coroutines_run_as_tasks_on_the_loop_thread(io: IoLoop) -> None:
    """A coroutine is a real task on the loop's thread, so ``asyncio.timeout`` works
    inside it (it needs a current task)."""
    async def where() -> tuple[int, bool, bool]:
        async with asyncio.timeout(5):
            await asyncio.sleep(0)
        return threading.get_ident(), asyncio.current_task() is not None, io.in_loop_thread()

    ident, has_task, in_loop = io.run(where(), 5)
    assert ident != threading.get_ident() and has_task and in_loop
    assert not io.in_loop_thread()
