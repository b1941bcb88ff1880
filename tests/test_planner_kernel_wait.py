"""A plan waits for the planner's kernels (whole demo daemon): while the kernels are being
compiled (by a child process on a cold start, gated here) a plan does not compile them a
second time in the daemon; the planner shows itself busy with the plan, alive in /health,
and stores the plan once the kernels are loaded — made on the inputs of that moment, not
on what the store held when the plan was asked for (on a slow board, minutes earlier)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from daemon_harness import Client, wait_for
from reliability_support import last_plan, planner_status, running_demo

from arduino_trader.actors import planner as planner_actor
from arduino_trader.adapters.kernel_cache import CacheFill
from arduino_trader.daemon.demo import DemoDaemon
from arduino_trader.protocols.messages import GetHealth, HealthReport

WAITED_S = 5.0  # far longer than a plan on loaded kernels takes


class GatedCompile:
    """Stands in for the child's compile: blocks until released."""

    def __init__(self) -> None:
        self.called = threading.Event()
        self.release = threading.Event()

    def __call__(self) -> CacheFill:
        self.called.set()
        self.release.wait(120)
        return CacheFill(compiled=True, ok=True, seconds=1.0, peak_rss_mb=1.0)


@pytest.fixture
def demo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
         ) -> Iterator[tuple[DemoDaemon, GatedCompile]]:
    gate = GatedCompile()
    monkeypatch.setattr(planner_actor, "fill_kernel_cache", gate)
    with running_demo(DemoDaemon, tmp_path / "state") as daemon:
        try:
            yield daemon, gate
        finally:
            gate.release.set()


def _planner_health(d: DemoDaemon) -> dict[str, object]:
    report = d.bus.ask("health", GetHealth(), 10)
    assert isinstance(report, HealthReport)
    return report.actors["planner"]


def _busy_for(d: DemoDaemon) -> float:
    """Seconds the planner has been busy with a plan (0 when it is not)."""
    info = _planner_health(d)
    since = info.get("busy_since")  # ISO text in the report
    if info.get("busy") != "plan" or not isinstance(since, str):
        return 0.0
    return (d.clock.now() - datetime.fromisoformat(since)).total_seconds()


def _plans(d: DemoDaemon) -> int:
    row = d.store.fetch_one("SELECT COUNT(*) FROM plans")
    assert row is not None
    return int(row[0])


def test_a_plan_waits_for_the_kernels_then_is_stored(
        demo: tuple[DemoDaemon, GatedCompile]) -> None:
    d, gate = demo
    assert gate.called.wait(60), "the planner never started warming its kernels"
    wait_for(lambda: _busy_for(d) >= WAITED_S, 90,
             f"a plan waiting for the kernels for {WAITED_S:g} s")
    assert _plans(d) == 0  # a plan that did not wait would have been stored by now
    assert _planner_health(d)["alive"] is True
    api = Client(d)
    code, body = api.call("GET", "/health")
    assert code == 200 and not any("planner" in r for r in body["reasons"]), body
    active = d.store.fetch_all("SELECT isin FROM securities WHERE active = 1 AND symbol "
                               "NOT IN ('AAPL.US', 'BAC.US', 'AMD.US') ORDER BY symbol")
    assert len(active) > 1
    # the owner retires a security while the plan waits: the plan must see it gone
    code, body = api.call("PUT", f"/api/securities/{active[0]['isin']}", {"active": False})
    assert code == 200, body
    gate.release.set()
    wait_for(lambda: _plans(d) >= 1, 90, "the plan stored once the kernels are loaded")
    summary = planner_status(d).last_summary
    assert summary is not None and summary.status == "plan" and summary.plan_id is not None
    assert planner_status(d).warmed_up is True
    inputs = d.store.fetch_one("SELECT inputs_json FROM plans ORDER BY id LIMIT 1")
    assert inputs is not None
    assert json.loads(inputs["inputs_json"])["securities"] == len(active) + 2


def test_a_kernel_wait_past_the_budget_fails_the_plan_then_planning_resumes(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A plan still waiting for the kernels when its budget runs out is reported as over
    budget (no plan stored, health's planner degraded), and once the kernels are loaded a
    requested plan is stored."""
    gate = GatedCompile()
    monkeypatch.setattr(planner_actor, "fill_kernel_cache", gate)
    with running_demo(DemoDaemon, tmp_path / "state",
                      env={"ARDUINO_TRADER_PLANNER_PLAN_BUDGET_S": "5"}) as d:
        try:
            assert gate.called.wait(60), "the planner never started warming its kernels"
            wait_for(lambda: (s := last_plan(d)) is not None and s.status == "failed", 90,
                     "the plan failed past its budget")
            failed = last_plan(d)
            assert failed is not None and "ran past its budget of 5 s" in failed.reason, \
                failed.reason
            assert _plans(d) == 0
            wait_for(lambda: any("planner" in r for r in Client(d).call("GET", "/health")[1]
                                 .get("reasons", [])), 30, "health naming the planner")
        finally:
            gate.release.set()
        wait_for(lambda: planner_status(d).warmed_up is True, 90, "the kernels loaded")
        code, body = Client(d).call("POST", "/api/planner/regenerate")
        assert code == 202, body
        wait_for(lambda: _plans(d) >= 1, 90, "a plan stored once the kernels are loaded")
        made = last_plan(d)
        assert made is not None and made.status == "plan", made
