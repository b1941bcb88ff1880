"""Keep the whole process on one CPU for a while (Linux; elsewhere a no-op).

A simulated day is a chain of hand-offs between threads (the step driver → the scheduler
→ an actor, actor → actor; without the backtest's inline loop and store also actor → I/O
loop → aiosqlite's connection thread and back), and only one of them runs at a time (the
GIL, and the step driver waits for each job). When the threads sit on different CPUs,
every hand-off wakes an idle CPU; on a virtual machine that wake-up costs more than the
work handed over (``arduino-trader backtest``
with and without ``--all-cpus``).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

TASKS = Path("/proc/self/task")


def _thread_ids() -> set[int]:
    """The kernel ids of this process's threads (empty where /proc is missing)."""
    try:
        return {int(name) for name in os.listdir(TASKS)}
    except OSError:
        return set()


def _set(put: Callable[[int, set[int]], None], tid: int, cpus: set[int]) -> bool:
    try:
        put(tid, cpus)
    except OSError:  # the thread ended meanwhile, or the change is not allowed
        return False
    return True


@contextmanager
def one_cpu() -> Iterator[int | None]:
    """Run the block with every thread of the process, and those started inside it, on
    one CPU of the calling thread's allowed set (what ``taskset`` does to a whole
    process); yields that CPU, or None where affinity cannot be set.

    On exit each thread that was running before gets its own CPUs back, and each thread
    started inside that still runs (a thread pool a library started lazily, say) gets
    the calling thread's."""
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
    if not _set(put, 0, {cpu}):
        yield None
        return
    me = threading.get_native_id()
    before: dict[int, set[int]] = {me: allowed}
    for tid in _thread_ids() - {me}:
        try:
            before[tid] = set(get(tid))
        except OSError:
            continue
        _set(put, tid, {cpu})
    try:
        yield cpu
    finally:
        put(0, allowed)
        for tid in _thread_ids() - {me}:
            if tid in before:
                _set(put, tid, before[tid])
            else:
                try:
                    if set(get(tid)) == {cpu}:
                        _set(put, tid, allowed)
                except OSError:
                    pass
