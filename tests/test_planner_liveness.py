"""A long plan is not a dead actor (whole daemon, simulated clock): while an artificially
slow plan runs within its budget the planner stays alive in /health and the systemd
watchdog keeps being fed; past its budget the plan is cancelled and reported; only an
actor that falls silent (the gated probe job) fails /health and withholds the watchdog."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from daemon_harness import Client, ProbeDaemon, wait_for

from arduino_trader.adapters.clock import ManualClock
from arduino_trader.config.settings import load_settings
from arduino_trader.daemon.service import DaemonOptions
from arduino_trader.daemon.supervisor import ActorSpec
from arduino_trader.domain.planner.models import PlanInput, PlanResult
from arduino_trader.protocols.messages import GetHealth, HealthReport, RunJob
from arduino_trader.protocols.planning import GetPlan, PlannerStatus, RequestPlan

ENV = {"ARDUINO_TRADER_PLANNER_PLAN_BUDGET_S": "60",
       "ARDUINO_TRADER_PLANNER_DEBOUNCE_SECONDS": "3600",
       "ARDUINO_TRADER_JOB_PLANNER_MINUTES": "1440",
       "ARDUINO_TRADER_JOB_AUTONOMOUS_EXECUTION_ENABLED": "false"}


class SlowPlan:
    """A plan that blocks until released: as slow as the test wants, without sleeping."""

    def __init__(self) -> None:
        self.started = threading.Event()
        self.release = threading.Event()

    def __call__(self, inp: PlanInput) -> PlanResult:
        self.started.set()
        self.release.wait(60)
        return PlanResult("nothing_to_do", "slow test plan")


class SlowPlanDaemon(ProbeDaemon):
    """The probe daemon whose planner plans with :class:`SlowPlan`."""

    def __init__(self, options: DaemonOptions, slow: SlowPlan) -> None:
        super().__init__(options)
        self.slow = slow

    def actor_specs(self) -> list[ActorSpec]:
        return [replace(s, kwargs={**s.kwargs, "plan_fn": self.slow})
                if s.name == "planner" else s for s in super().actor_specs()]


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[tuple[SlowPlanDaemon, ManualClock]]:
    clock = ManualClock(datetime(2022, 12, 20, 15, 0, tzinfo=UTC))
    options = DaemonOptions(settings=load_settings(None, environ=ENV),
                            data_dir=tmp_path / "state", configure_logs=False,
                            port_override=0, supervisor_backoff_s=0.2)
    options.clock = clock
    slow = SlowPlan()
    d = SlowPlanDaemon(options, slow)
    d.start()
    try:
        yield d, clock
    finally:
        slow.release.set()
        d.gate.set()
        d.stop()


def _report(d: SlowPlanDaemon) -> HealthReport:
    report = d.bus.ask("health", GetHealth(), 5)
    assert isinstance(report, HealthReport)
    return report


def _planner(d: SlowPlanDaemon) -> dict[str, Any]:
    return _report(d).actors["planner"]


def _status(d: SlowPlanDaemon) -> PlannerStatus:
    status = d.bus.ask("planner", GetPlan(), 5)
    assert isinstance(status, PlannerStatus)
    return status


def _scalar(d: SlowPlanDaemon, sql: str) -> int:
    row = d.store.fetch_one(sql)
    assert row is not None
    return int(row[0])


def _start_slow_plan(d: SlowPlanDaemon) -> None:
    """Wait for the bundled universe, then start a plan that reaches the slow kernel."""
    wait_for(lambda: _scalar(d, "SELECT COUNT(*) FROM job_runs WHERE job = "
                                "'sync_securities_data' AND finished_at IS NOT NULL") >= 1
             and _scalar(d, "SELECT COUNT(*) FROM fx_rates WHERE currency = 'USD'") >= 1,
             90, "bundled history and FX")
    d.bus.tell("planner", RequestPlan("test"))
    assert d.slow.started.wait(60), "the plan never reached the kernel"


def test_a_plan_within_its_budget_keeps_the_planner_alive_and_the_watchdog_fed(
        rig: tuple[SlowPlanDaemon, ManualClock]) -> None:
    d, clock = rig
    _start_slow_plan(d)
    clock.advance(timedelta(seconds=45))  # past the heartbeat timeout, within the budget
    wait_for(lambda: _planner(d).get("busy") == "plan" and _planner(d)["alive"]
             and _report(d).actors_alive, 15, "the busy planner counted alive")
    assert _planner(d)["budget_s"] == 60
    assert d.watchdog_tick() is True
    code, body = Client(d).call("GET", "/health")
    assert code == 200 and body["actors_alive"] is True, body
    assert not any("planner" in r for r in body["reasons"]), body


def test_a_plan_past_its_budget_is_cancelled_and_reported(
        rig: tuple[SlowPlanDaemon, ManualClock]) -> None:
    d, clock = rig
    _start_slow_plan(d)
    clock.advance(timedelta(seconds=61))
    wait_for(lambda: _status(d).last_summary is not None, 15, "the cancelled plan's summary")
    summary = _status(d).last_summary
    assert summary is not None and not summary.ok and summary.status == "failed"
    assert "ran past its budget of 60 s and was cancelled" in summary.reason
    report = _report(d)
    assert report.components["planner"]["level"] == "degraded"
    assert "busy" not in report.actors["planner"]
    # While the cancelled computation still runs, no second plan piles onto it.
    again = d.bus.ask("planner", RequestPlan("test"), 10)
    assert not again.ok and "still computing" in again.reason
    wait_for(lambda: _report(d).actors_alive, 15, "every actor alive again")
    assert d.watchdog_tick() is True
    code, body = Client(d).call("GET", "/health")
    assert code == 200 and body["status"] == "degraded", body


def test_only_a_silent_actor_fails_health_and_withholds_the_watchdog(
        rig: tuple[SlowPlanDaemon, ManualClock]) -> None:
    d, clock = rig
    _start_slow_plan(d)
    d.bus.tell("probe", RunJob("probe_job", "test"))  # blocks its mailbox, no heartbeats
    clock.advance(timedelta(seconds=31))
    wait_for(lambda: not _report(d).actors["probe"]["alive"] and _planner(d)["alive"],
             8, "the silent probe counted dead, the busy planner alive")
    assert d.watchdog_tick() is False
    code, body = Client(d).call("GET", "/health")
    assert code == 503 and "actor probe is not alive (started)" in body["reasons"], body
    assert not any("planner" in r for r in body["reasons"]), body


def test_stopping_the_daemon_does_not_wait_for_a_slow_plan(
        rig: tuple[SlowPlanDaemon, ManualClock]) -> None:
    d, _ = rig
    _start_slow_plan(d)
    started = time.monotonic()
    d.stop()  # the plan is still blocked: the planner cancels it instead of waiting
    # A planner stuck in the plan would hold the stop until its ~8 s actor timeout.
    assert time.monotonic() - started < 6.0
