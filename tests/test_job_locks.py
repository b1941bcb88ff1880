"""Stale job locks: cleared only when the holder is gone or older than the setting."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from daemon_harness import Client, ProbeDaemon, start_daemon, wait_for
from reliability_support import wait_idle

from arduino_trader.actors.base import BaseActor, RuntimeContext, handles
from arduino_trader.adapters.clock import ManualClock
from arduino_trader.adapters.store.sqlite import SqliteStore
from arduino_trader.config.settings import defaults, env_name
from arduino_trader.daemon.bus import ActorBus
from arduino_trader.daemon.io_loop import IoLoop
from arduino_trader.daemon.scheduler import JobAlreadyRunning, Scheduler
from arduino_trader.protocols.jobs import JobSpec
from arduino_trader.protocols.messages import JobOutcome, RunJob

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


class SteppedActor(BaseActor):
    """The n-th run waits for the n-th gate (runs of one actor are served in order)."""

    name = "stepped"

    def __init__(self, ctx: RuntimeContext, gates: list[threading.Event]) -> None:
        super().__init__(ctx)
        self.gates = gates
        self.count = 0

    @handles(RunJob)
    def _run(self, msg: RunJob) -> JobOutcome:
        gate = self.gates[self.count]
        self.count += 1
        gate.wait(10)
        return JobOutcome(True, f"ran {msg.run_id}")


@pytest.fixture
def sched(io: IoLoop, bus: ActorBus, store: SqliteStore) -> Iterator[Any]:
    clock = ManualClock(T0)
    settings = defaults()
    ctx = RuntimeContext(bus, io, clock, lambda: settings)
    gates = [threading.Event() for _ in range(3)]
    bus.register("stepped", SteppedActor.start(ctx, gates))
    scheduler = Scheduler(bus=bus, store=store, clock=clock, settings=lambda: settings,
                          max_workers=1)
    scheduler.register(JobSpec("slow", "stepped", "slow"))
    scheduler.register(JobSpec("other", "stepped", "other"))
    yield scheduler, clock, gates
    for gate in gates:
        gate.set()
    scheduler.stop()


def test_a_young_live_lock_stays_and_an_old_one_is_cleared(sched: Any, io: IoLoop,
                                                           store: SqliteStore) -> None:
    scheduler, clock, gates = sched
    first = scheduler.trigger("slow")
    assert scheduler.clear_stale_locks(timedelta(minutes=30)) == []
    with pytest.raises(JobAlreadyRunning):
        scheduler.trigger("slow")
    clock.advance(timedelta(minutes=31))
    cleared = scheduler.clear_stale_locks(timedelta(minutes=30))
    assert [(c["job"], c["run_id"]) for c in cleared] == [("slow", first)]
    assert cleared[0]["reason"].startswith("older than the configured age")
    row = store.fetch_one("SELECT ok, summary FROM job_runs WHERE run_id = ?",
                                 (first,))
    assert row is not None and row["ok"] == 0 and row["summary"].startswith("lock cleared")
    second = scheduler.trigger("slow")  # the job can run again
    assert second != first
    gates[0].set()  # the cleared run ends: it must not release the new run's lock
    wait_for(lambda: store.fetch_one(
        "SELECT finished_at FROM job_runs WHERE run_id = ?", (first,))["finished_at"]
        is not None and scheduler.state("slow")["runs"] == 0 and
        store.fetch_one("SELECT summary FROM job_runs WHERE run_id = ?",
                               (first,))["summary"] == f"ran {first}",
        what="the cleared run to finish")
    state = scheduler.state("slow")
    assert state["status"] == "running" and state["running_run_id"] == second
    gates[1].set()
    wait_for(lambda: scheduler.state("slow")["status"] == "idle", what="second run")
    assert scheduler.state("slow")["runs"] == 1


def test_a_lock_whose_run_was_cancelled_is_cleared_at_once(sched: Any) -> None:
    scheduler, _clock, _gates = sched
    scheduler.trigger("slow")          # occupies the only worker
    queued = scheduler.trigger("other")  # waits for the worker
    assert scheduler.clear_stale_locks(timedelta(days=1)) == []  # queued is not gone
    scheduler.stop()                    # cancels the queued run: nothing will run it
    cleared = scheduler.clear_stale_locks(timedelta(days=1))
    assert [(c["job"], c["run_id"]) for c in cleared] == [("other", queued)]
    assert cleared[0]["reason"].startswith("holder gone")
    assert scheduler.state("slow")["status"] == "running"
    assert scheduler.state("other")["status"] == "idle"


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[tuple[ProbeDaemon, ManualClock]]:
    clock = ManualClock(T0)
    d = start_daemon(tmp_path / "state", env={env_name("job_lock_stale_minutes"): "10"},
                     clock=clock)
    # The jobs due at start finish first: run past the stale age, they would be cleared too.
    wait_idle(d, 120)
    yield d, clock
    d.gate.set()
    d.stop()


def test_locks_clear_route_answers_what_it_cleared(daemon: Any) -> None:
    d, clock = daemon
    api = Client(d)
    _, started = api.call("POST", "/api/system/jobs/probe_job")
    assert api.call("POST", "/api/system/locks/clear", token=None)[0] == 401
    code, body = api.call("POST", "/api/system/locks/clear")
    assert (code, body) == (200, {"cleared": [], "stale_after_minutes": 10})
    assert api.call("GET", "/api/system/jobs/probe_job")[1]["status"] == "running"
    clock.advance(timedelta(minutes=11))
    code, body = api.call("POST", "/api/system/locks/clear")
    assert code == 200
    assert [(c["job"], c["run_id"]) for c in body["cleared"]] == \
        [("probe_job", started["run_id"])]
    assert "older than the configured age" in body["cleared"][0]["reason"]
    assert api.call("GET", "/api/system/jobs/probe_job")[1]["status"] == "idle"
    assert api.call("POST", "/api/system/jobs/probe_job")[0] == 202
    d.gate.set()
    wait_for(lambda: api.call("GET", "/api/system/jobs/probe_job")[1]["status"] == "idle",
             what="the new run to finish")
