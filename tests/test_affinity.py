"""One CPU for a backtest's threads: threads started inside share the CPU, everything gets
its CPUs back afterwards, and platforms without affinity calls are left alone."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from arduino_trader.config.settings import load_settings
from arduino_trader.daemon import affinity
from arduino_trader.daemon.affinity import one_cpu
from arduino_trader.daemon.backtest import BacktestConfig, run_backtest

needs_two_cpus = pytest.mark.skipif(
    not hasattr(os, "sched_getaffinity") or len(os.sched_getaffinity(0)) < 2,
    reason="needs Linux affinity calls and at least two allowed CPUs")


def _in_thread(func: Callable[[], Any]) -> tuple[threading.Thread, threading.Event, list[Any]]:
    """A running thread that records ``func()`` and then waits for the returned event."""
    seen: list[Any] = []
    release, ready = threading.Event(), threading.Event()

    def body() -> None:
        seen.append(func())
        ready.set()
        release.wait(10)

    thread = threading.Thread(target=body)
    thread.start()
    assert ready.wait(10)
    return thread, release, seen


@needs_two_cpus
def test_threads_started_inside_share_one_cpu_and_get_theirs_back() -> None:
    allowed = os.sched_getaffinity(0)
    with one_cpu() as cpu:
        assert cpu in allowed
        assert os.sched_getaffinity(0) == {cpu}
        thread, release, seen = _in_thread(lambda: (threading.get_native_id(),
                                                    os.sched_getaffinity(0)))
    try:
        tid, inside = seen[0]
        assert inside == {cpu}
        assert os.sched_getaffinity(0) == allowed
        assert os.sched_getaffinity(tid) == allowed  # still running, restored too
    finally:
        release.set()
        thread.join()


@needs_two_cpus
def test_threads_running_before_share_the_cpu_inside_and_get_their_own_back() -> None:
    allowed = os.sched_getaffinity(0)
    thread, release, seen = _in_thread(threading.get_native_id)
    tid = seen[0]
    own = {max(allowed)}
    os.sched_setaffinity(tid, own)  # a thread with CPUs of its own
    try:
        with one_cpu() as cpu:
            assert os.sched_getaffinity(tid) == {cpu}
        assert os.sched_getaffinity(tid) == own
        assert os.sched_getaffinity(0) == allowed
    finally:
        release.set()
        thread.join()


@needs_two_cpus
def test_the_caller_gets_its_cpus_back_after_an_error() -> None:
    allowed = os.sched_getaffinity(0)
    with pytest.raises(RuntimeError), one_cpu():
        raise RuntimeError("boom")
    assert os.sched_getaffinity(0) == allowed


def test_without_affinity_calls_nothing_happens(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(affinity.os, "sched_setaffinity", raising=False)
    with one_cpu() as cpu:
        assert cpu is None


def test_a_single_allowed_cpu_is_kept_as_it_is(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[Any] = []
    monkeypatch.setattr(affinity.os, "sched_getaffinity", lambda pid: {3}, raising=False)
    monkeypatch.setattr(affinity.os, "sched_setaffinity",
                        lambda pid, mask: calls.append((pid, mask)), raising=False)
    with one_cpu() as cpu:
        assert cpu == 3
    assert calls == []


def test_a_refused_affinity_change_runs_the_block_anyway(
        monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(pid: int, mask: Any) -> None:
        raise PermissionError("not allowed")

    monkeypatch.setattr(affinity.os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    monkeypatch.setattr(affinity.os, "sched_setaffinity", refuse, raising=False)
    ran = []
    with one_cpu() as cpu:
        ran.append(cpu)
    assert ran == [None]


@needs_two_cpus
@pytest.mark.parametrize("pin", [True, False])
def test_a_backtest_runs_its_days_on_one_cpu_unless_told_otherwise(
        tmp_path: Path, pin: bool) -> None:
    allowed = os.sched_getaffinity(0)
    seen: list[set[int]] = []
    config = BacktestConfig(date(2019, 1, 2), date(2019, 1, 8), Decimal("10000"),
                            progress_every=0, one_cpu=pin)
    small = tmp_path / "small.toml"
    small.write_text("max_plan_depth = 1\nplanner_max_sequences = 10\nbeam_width = 2\n"
                     "monte_carlo_path_count = 10\n", encoding="utf-8")
    result = run_backtest(config, load_settings(small, environ={}),
                          on_day=lambda i, day: seen.append(os.sched_getaffinity(0)))
    assert result.report["trading_days"] == len(seen) == 5
    assert all(len(s) == 1 for s in seen) if pin else all(s == allowed for s in seen)
    assert os.sched_getaffinity(0) == allowed
