"""Crash at every step (issue 11): the crash-point mechanism, and the CI subset of the
harness — SIGKILL the daemon process at a durable step of a live scenario against the
sandbox, restart it, finish, and check that nothing was lost or doubled.
``benchmarks/crash_matrix.py`` runs every point."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from crash_support import CRITICAL, CrashHarness, points, sample

from arduino_trader.adapters import crashpoints
from arduino_trader.adapters.crashpoints import Recorder, Target, parse_target, read_log

SEED = 11
RANDOM_POINTS = 4


def test_parse_target() -> None:
    assert parse_target("commit:17") == Target("commit", 17)
    assert parse_target(" broker_after:3 ") == Target("broker_after", 3)
    assert parse_target("broker_before@putTradeOrder:1") == \
        Target("broker_before", 1, "putTradeOrder")
    assert parse_target("commit@order_journal.journal_order:2") == \
        Target("commit", 2, "order_journal.journal_order")
    for bad in ("commit", "commit:0", "commit:x", "sync:3", "commit@:1", ":4", ""):
        with pytest.raises(ValueError):
            parse_target(bad)


def test_recorder_counts_and_logs(tmp_path: Path) -> None:
    log = tmp_path / "crash.log"
    rec = Recorder(None, str(log))
    for kind, detail in (("commit", "a"), ("broker_before", "x"), ("broker_after", "x"),
                         ("commit", "b")):
        rec.step(kind, detail)
    assert rec.counts == {"commit": 2, "broker_before": 1, "broker_after": 1}
    assert log.read_text().splitlines() == ["commit 1 a", "broker_before 1 x",
                                            "broker_after 1 x", "commit 2 b"]
    assert read_log(str(log)) == rec.counts
    assert read_log(str(tmp_path / "missing")) == dict.fromkeys(crashpoints.KINDS, 0)


def test_commit_detail_names_the_writer(tmp_path: Path) -> None:
    rec = Recorder(None, str(tmp_path / "log"))

    def journal_order() -> None:
        rec.step("commit", "")

    journal_order()
    assert rec.detail_counts == {("commit", "test_crash_matrix.journal_order"): 1}


def test_environment_arms_and_disarms(tmp_path: Path) -> None:
    assert crashpoints.recorder_from_env({}) is None
    rec = crashpoints.recorder_from_env({crashpoints.CRASH_AT_ENV: "commit:3"})
    assert rec is not None and rec.target == Target("commit", 3) and rec.log_path is None
    rec = crashpoints.recorder_from_env({crashpoints.CRASH_LOG_ENV: str(tmp_path / "l")})
    assert rec is not None and rec.target is None
    with pytest.raises(ValueError):
        crashpoints.recorder_from_env({crashpoints.CRASH_AT_ENV: "commit"})
    assert crashpoints.current() is None  # the test process runs disarmed
    assert crashpoints.hit is crashpoints._off
    armed = Recorder(None, None)
    crashpoints.arm(armed)
    try:
        crashpoints.hit("commit", "x")
        assert armed.counts["commit"] == 1
    finally:
        crashpoints.arm(None)
    assert crashpoints.hit is crashpoints._off


@pytest.mark.parametrize(("target", "steps", "dies"), [
    ("commit:2", ["commit", "commit", "commit"], True),
    ("broker_before@putTradeOrder:1", ["broker_before getPositionJson",
                                       "broker_before putTradeOrder"], True),
    ("broker_after@putTradeOrder:2", ["broker_after putTradeOrder"], False),
])
def test_target_kills_the_process(tmp_path: Path, target: str, steps: list[str],
                                  dies: bool) -> None:
    """A child process armed by the environment dies by SIGKILL exactly at the target
    (its log ends with the fatal step), and runs to the end when the target is not hit."""
    log = tmp_path / "crash.log"
    calls = "; ".join(f"c.hit({s.split()[0]!r}, {[*s.split(), ''][1]!r})" for s in steps)
    code = f"from arduino_trader.adapters import crashpoints as c; {calls}; print('done')"
    env = {**os.environ, crashpoints.CRASH_AT_ENV: target, crashpoints.CRASH_LOG_ENV: str(log)}
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                          timeout=60, check=False)
    lines = log.read_text().splitlines()
    if dies:
        assert proc.returncode == -signal.SIGKILL and b"done" not in proc.stdout
        target_kind = target.split("@")[0].split(":")[0]
        assert lines[-1].startswith(target_kind)
        assert len(lines) == 2  # the fatal step is the second one
    else:
        assert proc.returncode == 0 and b"done" in proc.stdout
        assert len(lines) == len(steps)


def test_disarmed_hook_costs_next_to_nothing() -> None:
    """Off by default: the store's and the client's hook is an empty call."""
    start = time.perf_counter()
    for _ in range(100_000):
        crashpoints.hit("commit", "")
    assert time.perf_counter() - start < 0.5


# A crash run starts the daemon process twice and runs the whole scenario; the first one
# also pays for the module's clean run. On a loaded 2-core machine that passes the suite's
# 120 s default.
RUN_TIMEOUT_S = 360


@pytest.fixture(scope="module")
def harness(tmp_path_factory: pytest.TempPathFactory) -> CrashHarness:
    return CrashHarness(tmp_path_factory.mktemp("crash"))


@pytest.fixture(scope="module")
def clean_points(harness: CrashHarness) -> list[str]:
    """The clean run: the scenario passes every check and counts its crash points."""
    result = harness.run(None, "clean")
    assert result.problems == [], result.problems
    assert result.crashed_at is None
    found = points(result.counts)
    assert result.counts["commit"] > 50 and result.counts["broker_before"] > 20, result.counts
    # Every broker call is answered but the slow broker's placement (its client times out).
    assert result.counts["broker_before"] == result.counts["broker_after"] + 1
    return found


@pytest.mark.timeout(RUN_TIMEOUT_S)
@pytest.mark.parametrize("target", [*CRITICAL, *(f"random:{i}" for i in range(RANDOM_POINTS))])
def test_crash_point(harness: CrashHarness, clean_points: list[str], target: str) -> None:
    if target.startswith("random:"):
        target = sample(clean_points, RANDOM_POINTS, SEED)[int(target.split(":")[1])]
    result = harness.run(target, target.replace(":", "_").replace("@", "_"))
    assert result.problems == [], (result.crashed_at, result.problems)
    if "@" in target:  # a named step is reached in every run
        assert result.crashed_at is not None and result.crashed_at != "not reached", result


@pytest.mark.timeout(RUN_TIMEOUT_S)
def test_crash_after_fills_are_booked_loses_no_bucket_settlement(
        harness: CrashHarness, clean_points: list[str]) -> None:
    """Die right after a follow-up commit that books fills (the first two are the
    placements' status checks; the third and fourth book the manual orders' first parts,
    and the scenario has no fifth), before
    the in-memory ``TradeExecuted`` reaches the satellites actor: the restarted satellites
    actor settles those fills from the store."""
    for n in (3, 4):
        result = harness.run(f"commit@order_journal.apply_follow_up:{n}", f"fills_booked_{n}")
        assert result.problems == [], (n, result.problems)
        assert result.crashed_at not in (None, "not reached"), (n, result)
