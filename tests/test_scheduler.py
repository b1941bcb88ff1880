"""Scheduler: schedules, coalescing, failure counting, settings-driven rescheduling."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from arduino_trader.actors.base import BaseActor, RuntimeContext, handles
from arduino_trader.adapters.clock import ManualClock, StepClock
from arduino_trader.adapters.store.sqlite import SqliteStore
from arduino_trader.config.settings import Settings, defaults
from arduino_trader.config.spec import SettingError
from arduino_trader.daemon.bus import ActorBus
from arduino_trader.daemon.io_loop import IoLoop
from arduino_trader.daemon.schedule import describe, next_run
from arduino_trader.daemon.scheduler import JobAlreadyRunning, JobNotFound, Scheduler
from arduino_trader.protocols.jobs import JobSpec
from arduino_trader.protocols.messages import JobOutcome, RunJob

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)  # a Monday


class WorkerActor(BaseActor):
    name = "worker"

    def __init__(self, ctx: RuntimeContext, gate: threading.Event, fail: list[bool]) -> None:
        super().__init__(ctx)
        self.gate = gate
        self.fail = fail

    @handles(RunJob)
    def _run(self, msg: RunJob) -> JobOutcome:
        self.gate.wait(10)
        if self.fail and self.fail.pop(0):
            raise RuntimeError("boom")
        return JobOutcome(True, f"ran {msg.job}")


def test_interval_and_daily_schedules() -> None:
    s = defaults()
    every = JobSpec("a", "w", "", every_minutes_key="job_sync_cycle_minutes")
    assert next_run(every, s, now=T0, last_start=None) == T0 + timedelta(minutes=5)
    assert next_run(every, s, now=T0, last_start=T0 - timedelta(minutes=2)) == \
        T0 + timedelta(minutes=3)
    assert next_run(every, s, now=T0, last_start=T0 - timedelta(hours=1)) == T0
    daily = JobSpec("b", "w", "", daily_hour_key="job_maintenance_hour")
    assert next_run(daily, s, now=T0, last_start=None) == datetime(2026, 3, 3, 3, 0, tzinfo=UTC)
    weekly = JobSpec("c", "w", "", daily_hour_key="job_maintenance_hour", weekday=6)
    assert next_run(weekly, s, now=T0, last_start=None) == datetime(2026, 3, 8, 3, 0, tzinfo=UTC)
    assert describe(weekly, s) == "weekly on Sun 03:00 UTC"
    assert next_run(JobSpec("d", "w", ""), s, now=T0, last_start=None) is None


def test_a_job_naming_an_undeclared_or_mistyped_setting_is_refused(
        bus: ActorBus, store: SqliteStore) -> None:
    sched = Scheduler(bus=bus, store=store, clock=ManualClock(T0), settings=defaults)
    try:
        with pytest.raises(SettingError, match="job_sync_cycle_minuts: unknown setting"):
            sched.register(JobSpec("typo", "worker", "",
                                   every_minutes_key="job_sync_cycle_minuts"))
        with pytest.raises(SettingError, match="job flag needs a setting of type int"):
            sched.register(JobSpec("flag", "worker", "", daily_hour_key="job_backup_enabled"))
        with pytest.raises(SettingError, match="job hour needs a setting of type bool"):
            sched.register(JobSpec("hour", "worker", "", every_minutes=5,
                                   enabled_key="job_maintenance_hour"))
        assert sched.names() == []
    finally:
        sched.stop()


@pytest.fixture
def setup(io: IoLoop, bus: ActorBus, store: SqliteStore) -> Any:
    clock = ManualClock(T0)
    current: dict[str, Settings] = {"s": defaults()}
    ctx = RuntimeContext(bus, io, clock, lambda: current["s"])
    gate = threading.Event()
    fail: list[bool] = []
    bus.register("worker", WorkerActor.start(ctx, gate, fail))
    sched = Scheduler(bus=bus, store=store, clock=clock, settings=lambda: current["s"])
    sched.register(JobSpec("sync", "worker", "sync", every_minutes_key="job_sync_cycle_minutes"))
    yield sched, clock, gate, fail, current
    gate.set()
    sched.stop()


def test_trigger_while_running_is_refused(setup: Any, io: IoLoop,
                                          store: SqliteStore) -> None:
    sched, _clock, gate, _fail, _ = setup
    run_id = sched.trigger("sync")
    with pytest.raises(JobAlreadyRunning) as err:
        sched.trigger("sync")
    assert err.value.run_id == run_id
    assert sched.state("sync")["status"] == "running"
    gate.set()
    _wait(lambda: sched.state("sync")["status"] == "idle")
    state = sched.state("sync")
    assert state["last_result"] == "ok" and state["runs"] == 1
    row = store.fetch_one("SELECT ok, summary FROM job_runs WHERE run_id = ?",
                                 (run_id,))
    assert row is not None and row["ok"] == 1 and row["summary"] == "ran sync"
    with pytest.raises(JobNotFound):
        sched.trigger("nope")


def test_failures_are_counted_and_reset(setup: Any, bus: ActorBus, io: IoLoop) -> None:
    sched, clock, gate, fail, current = setup
    gate.set()
    fail.append(True)
    worker = bus.ref("worker")
    outcome = sched.run_now("sync")
    assert not outcome.ok and "RuntimeError: boom" in outcome.summary
    _wait(lambda: not worker.is_alive())  # a job that raised stops its actor
    outcome = sched.run_now("sync")
    assert not outcome.ok and "not running" in outcome.summary
    assert sched.state("sync")["consecutive_failures"] == 2
    ctx = RuntimeContext(bus, io, clock, lambda: current["s"])
    bus.register("worker", WorkerActor.start(ctx, gate, fail))  # as the supervisor does
    assert sched.run_now("sync").ok
    assert sched.state("sync")["consecutive_failures"] == 0


def test_due_jobs_follow_the_clock_and_settings(setup: Any) -> None:
    sched, clock, gate, _fail, current = setup
    gate.set()
    assert sched.due_jobs(clock.now()) == []
    clock.advance(timedelta(minutes=5))
    assert sched.due_jobs(clock.now()) == ["sync"]
    sched.run_now("sync", "schedule")
    assert sched.due_jobs(clock.now()) == []
    current["s"] = current["s"].with_overrides({"job_sync_cycle_minutes": 1})
    sched.reschedule()
    clock.advance(timedelta(minutes=1))
    assert sched.due_jobs(clock.now()) == ["sync"]
    assert sched.state("sync")["schedule"] == "every 1 min"


def _wait(cond: Any, timeout: float = 5.0) -> None:
    deadline = threading.Event()
    for _ in range(int(timeout / 0.02)):
        if cond():
            return
        deadline.wait(0.02)
    raise AssertionError("condition not reached")


class RecordingActor(BaseActor):
    """Records the jobs it runs, in order, and which thread asked."""

    name = "recorder"

    def __init__(self, ctx: RuntimeContext, log: list[tuple[str, str]]) -> None:
        super().__init__(ctx)
        self.runs = log

    @handles(RunJob)
    def _run(self, msg: RunJob) -> JobOutcome:
        self.runs.append((msg.job, msg.trigger))
        return JobOutcome(msg.job != "fails", f"ran {msg.job}")


@pytest.fixture
def stepped(io: IoLoop, bus: ActorBus, store: SqliteStore) -> Any:
    clock = StepClock(T0)
    ctx = RuntimeContext(bus, io, clock, defaults)
    runs: list[tuple[str, str]] = []
    bus.register("recorder", RecordingActor.start(ctx, runs))
    sched = Scheduler(bus=bus, store=store, clock=clock, settings=defaults,
                      stepped=("sync", "plan", "fails"), tick_seconds=0.02)
    for spec in (JobSpec("plan", "recorder", "", every_minutes_key="job_planner_minutes"),
                 JobSpec("sync", "recorder", "", every_minutes=5, run_at_startup=True),
                 JobSpec("fails", "recorder", "", every_minutes=1),
                 JobSpec("weekly", "recorder", "", daily_hour_key="job_maintenance_hour",
                         weekday=6)):
        sched.register(spec)
    yield sched, clock, runs
    sched.stop()


def test_stepped_scheduler_runs_the_simulated_day_in_order(stepped: Any) -> None:
    sched, clock, runs = stepped
    assert sched.due_jobs(clock.now()) == []  # nothing at start-up, even run_at_startup
    assert sched.state("weekly")["next_run"] is None  # outside the simulated day
    clock.set(T0 + timedelta(days=1))
    outcomes = sched.drain()
    assert list(outcomes) == ["sync", "plan", "fails"] and not outcomes["fails"].ok
    assert runs == [("sync", "schedule"), ("plan", "schedule"), ("fails", "schedule")]
    assert sched.drain() == outcomes and len(runs) == 3  # each once per moment
    clock.set(T0 + timedelta(days=8))  # a week later: still never the weekly job
    assert list(sched.drain()) == ["sync", "plan", "fails"]
    assert "weekly" not in {job for job, _ in runs}


def test_stepped_timer_runs_the_same_jobs_in_the_same_order(stepped: Any) -> None:
    sched, clock, runs = stepped
    sched.start()  # the ticking thread
    with sched.holding():
        clock.set(T0 + timedelta(days=1))
        threading.Event().wait(0.1)  # several ticks: held, the thread starts nothing
        assert runs == []
    _wait(lambda: len(runs) == 3)
    assert [job for job, _ in runs] == ["sync", "plan", "fails"]
    assert list(sched.drain()) == ["sync", "plan", "fails"]  # what the timer ran
    assert len(runs) == 3


def test_drain_needs_a_stepped_scheduler(setup: Any) -> None:
    sched = setup[0]
    assert sched.stepped is None
    with pytest.raises(RuntimeError, match="stepped"):
        sched.drain()


@dataclass(frozen=True)
class Noted:
    """An event: the echo actor passes it on, the slow actor records it late."""

    job: str


class EchoActor(BaseActor):
    """Runs jobs by publishing an event; re-tells each event it sees to the slow actor."""

    name = "echo"

    @handles(RunJob)
    def _run(self, msg: RunJob) -> JobOutcome:
        self.ctx.bus.publish(Noted(msg.job))
        return JobOutcome(True, f"ran {msg.job}")

    @handles(Noted)
    def _on_noted(self, msg: Noted) -> None:
        time.sleep(0.02)
        self.ctx.bus.tell("slow", msg)


class SlowActor(BaseActor):
    name = "slow"

    def __init__(self, ctx: RuntimeContext, seen: list[str]) -> None:
        super().__init__(ctx)
        self.seen = seen

    @handles(Noted)
    def _on_noted(self, msg: Noted) -> None:
        time.sleep(0.05)
        self.seen.append(msg.job)


def test_stepped_jobs_wait_for_the_events_they_caused(io: IoLoop, bus: ActorBus,
                                                      store: SqliteStore) -> None:
    clock = StepClock(T0)
    ctx = RuntimeContext(bus, io, clock, defaults)
    seen: list[str] = []
    bus.register("echo", EchoActor.start(ctx))
    bus.register("slow", SlowActor.start(ctx, seen))
    bus.subscribe(Noted, "echo")
    sched = Scheduler(bus=bus, store=store, clock=clock, settings=defaults,
                      stepped=("first", "second"))
    for name in ("first", "second"):
        sched.register(JobSpec(name, "echo", "", every_minutes=5))
    seen_at_start: list[list[str]] = []
    original = EchoActor._run

    def spying(self: EchoActor, msg: RunJob) -> JobOutcome:
        seen_at_start.append(list(seen))
        return original(self, msg)

    EchoActor._run = spying  # type: ignore[method-assign]
    try:
        clock.set(T0 + timedelta(minutes=5))
        assert list(sched.drain()) == ["first", "second"]
    finally:
        EchoActor._run = original  # type: ignore[method-assign]
        sched.stop()
    # the second job started only once the first job's event had gone echo -> slow
    assert seen_at_start == [[], ["first"]]
    assert seen == ["first", "second"]


def test_settle_reports_an_actor_that_does_not_finish_in_time(io: IoLoop, bus: ActorBus
                                                              ) -> None:
    ctx = RuntimeContext(bus, io, StepClock(T0), defaults)
    seen: list[str] = []
    bus.register("slow", SlowActor.start(ctx, seen))
    bus.tell("slow", Noted("a"))
    assert bus.settle(0.01) is False
    bus.tell("slow", Noted("b"))
    assert bus.settle(5) is True and seen == ["a", "b"]
    assert bus.settle(0.01) is True  # nothing handed out since: no barrier needed
