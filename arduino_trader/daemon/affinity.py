"""Keep a thread, and every thread it starts, on one CPU (Linux; elsewhere a no-op).

A simulated day is a chain of hand-offs between threads (actor → I/O loop → aiosqlite's
connection thread and back), and only one of them runs at a time (the GIL, and the step
driver waits for each job). When the threads sit on different CPUs, every hand-off wakes
an idle CPU; on a virtual machine that wake-up costs more than the work handed over
(``benchmarks/backtest.py`` measures both ways: see docs/architecture.md).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

TASKS = Path("/proc/self/task")


def _thread_ids() -> set[int]:
    """The kernel ids of this process's threads (empty where /proc is missing)."""
    try:
        return {int(name) for name in os.listdir(TASKS)}
    except OSError:
        return set()


@contextmanager
def one_cpu() -> Iterator[int | None]:
    """Run the block with the calling thread, and the threads started inside it, on one CPU
    of the allowed set; yields that CPU, or None where affinity cannot be set.

    On exit the calling thread gets its CPUs back, and so does every thread started inside
    that still runs (a thread pool a library started lazily, say)."""
    get = getattr(os, "sched_getaffinity", None)
    put = getattr(os, "sched_setaffinity", None)
    if get is None or put is None:
        yield None
        return
    allowed: set[int] = set(get(0))
    if len(allowed) <= 1:
        yield next(iter(allowed), None)
        return
    cpu = min(allowed)
    before = _thread_ids()
    try:
        put(0, {cpu})
    except OSError:
        yield None
        return
    try:
        yield cpu
    finally:
        put(0, allowed)
        for tid in _thread_ids() - before:
            try:
                if set(get(tid)) == {cpu}:
                    put(tid, allowed)
            except OSError:  # the thread ended meanwhile
                pass
