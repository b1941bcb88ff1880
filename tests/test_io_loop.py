"""The I/O loop: coroutines from other threads, plain and inline (backtests)."""

from __future__ import annotations

import asyncio
import contextvars
import threading
import time
from collections.abc import Iterator

import pytest

from arduino_trader.daemon.io_loop import IoLoop

VAR: contextvars.ContextVar[str] = contextvars.ContextVar("VAR", default="unset")


@pytest.fixture(params=[False, True], ids=["handed-over", "inline"])
def io(request: pytest.FixtureRequest) -> Iterator[IoLoop]:
    loop = IoLoop(inline=request.param)
    loop.start()
    yield loop
    loop.stop()


@pytest.fixture
def inline_io() -> Iterator[IoLoop]:
    loop = IoLoop(inline=True)
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


def test_inline_runs_a_coroutine_on_the_calling_thread(inline_io: IoLoop) -> None:
    async def where() -> tuple[int, asyncio.AbstractEventLoop, bool]:
        return threading.get_ident(), asyncio.get_running_loop(), inline_io.in_loop_thread()

    ident, loop, in_loop = inline_io.run(where(), 5)
    assert ident == threading.get_ident()
    assert loop is inline_io.loop
    assert in_loop
    assert not inline_io.in_loop_thread()  # only while the coroutine runs
    with pytest.raises(RuntimeError):
        asyncio.get_running_loop()


def test_inline_never_runs_alongside_loop_callbacks(inline_io: IoLoop) -> None:
    busy = threading.Event()
    started = threading.Event()

    def loop_callback() -> None:
        busy.set()
        started.set()
        time.sleep(0.2)  # loop code in the middle of its work
        busy.clear()

    async def observe() -> bool:
        return busy.is_set()

    inline_io.loop.call_soon_threadsafe(loop_callback)
    assert started.wait(5)
    assert inline_io.run(observe(), 5) is False


def test_inline_wakes_the_loop_for_what_it_schedules(inline_io: IoLoop) -> None:
    ran = threading.Event()
    timer = threading.Event()
    tasks: list[asyncio.Task[None]] = []

    async def background() -> None:
        ran.set()

    async def schedules() -> None:
        loop = asyncio.get_running_loop()
        tasks.append(loop.create_task(background()))
        loop.call_later(0.01, timer.set)

    inline_io.run(schedules(), 5)
    assert ran.wait(2), "the task created inline never ran: the loop was not woken"
    assert timer.wait(2), "the timer set inline never fired"


def test_inline_is_off_in_debug_mode() -> None:
    io = IoLoop(inline=True)
    io.loop.set_debug(True)
    io.start()
    try:
        async def where() -> int:
            return threading.get_ident()

        assert io.run(where(), 5) == io._thread.ident
    finally:
        io.stop()
