"""A long job is not a dead actor (whole daemon, simulated clock): while the market-data
actor spends longer than a heartbeat timeout in a price sync, /health stays 200 and the
systemd watchdog keeps being fed; a job past its budget is reported stuck and withholds
the watchdog; the job's end makes the actor plainly alive again. A job told without a
budget still leaves a silent actor (``test_planner_liveness``)."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from daemon_harness import Client, ProbeDaemon, wait_for

from arduino_trader.actors.job_beat import BeatHub, JobBeat
from arduino_trader.adapters.clock import ManualClock
from arduino_trader.config.settings import load_settings
from arduino_trader.daemon.service import DaemonOptions
from arduino_trader.protocols.market_data import MarketData
from arduino_trader.protocols.messages import GetHealth, HealthReport, Heartbeat

ENV = {"ARDUINO_TRADER_PLANNER_DEBOUNCE_SECONDS": "3600",
       "ARDUINO_TRADER_JOB_PLANNER_MINUTES": "1440",
       "ARDUINO_TRADER_JOB_AUTONOMOUS_EXECUTION_ENABLED": "false"}
JOB = "sync_prices"  # triggered by hand: every quote is read, none skipped
BUDGET_S = 300  # that job's budget (its JobSpec timeout)


class SlowQuotes:
    """The configured source, except that once armed a quote read blocks until
    released: as slow as the test wants, without sleeping."""

    def __init__(self, inner: MarketData) -> None:
        self.inner = inner
        self.armed = threading.Event()
        self.started = threading.Event()
        self.release = threading.Event()

    def quotes(self, symbols: Sequence[str]) -> Any:
        if self.armed.is_set():
            self.started.set()
            self.release.wait(120)
        return self.inner.quotes(symbols)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


class SlowQuoteDaemon(ProbeDaemon):
    """The probe daemon whose market-data source reads quotes slowly when armed."""

    slow: SlowQuotes | None = None

    def _market_source(self) -> MarketData:
        if self.slow is None:
            self.slow = SlowQuotes(super()._market_source())
        return self.slow  # type: ignore[return-value]


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[tuple[SlowQuoteDaemon, ManualClock, SlowQuotes]]:
    clock = ManualClock(datetime(2022, 12, 20, 15, 0, tzinfo=UTC))
    options = DaemonOptions(settings=load_settings(None, environ=ENV),
                            data_dir=tmp_path / "state", configure_logs=False,
                            port_override=0, supervisor_backoff_s=0.2)
    options.clock = clock
    d = SlowQuoteDaemon(options)
    d.start()
    assert d.slow is not None
    try:
        yield d, clock, d.slow
    finally:
        d.slow.release.set()
        d.gate.set()
        d.stop()


def _report(d: ProbeDaemon) -> HealthReport:
    report = d.bus.ask("health", GetHealth(), 5)
    assert isinstance(report, HealthReport)
    return report


def _market(d: ProbeDaemon) -> dict[str, Any]:
    return _report(d).actors["market_data"]


def _finished(d: ProbeDaemon, job: str) -> int:
    row = d.store.fetch_one("SELECT COUNT(*) FROM job_runs WHERE job = ? "
                            "AND finished_at IS NOT NULL", (job,))
    assert row is not None
    return int(row[0])


def _run_ok(d: ProbeDaemon, run_id: str) -> bool:
    """The run finished, and well: not closed by the scheduler's stale-lock sweep."""
    row = d.store.fetch_one("SELECT ok FROM job_runs WHERE run_id = ? "
                            "AND finished_at IS NOT NULL", (run_id,))
    return row is not None and row["ok"] == 1


def test_a_long_price_sync_keeps_market_data_alive_and_past_its_budget_stuck(
        rig: tuple[SlowQuoteDaemon, ManualClock, SlowQuotes]) -> None:
    d, clock, slow = rig
    wait_for(lambda: _finished(d, "sync_securities_data") >= 1 and _finished(d, JOB) >= 1,
             90, "the start-up syncs")
    api = Client(d)
    slow.armed.set()
    code, started = api.call("POST", f"/api/system/jobs/{JOB}")
    assert code == 202, started
    assert slow.started.wait(60), "the job never reached the source"

    clock.advance(timedelta(seconds=45))  # past the heartbeat timeout, within the budget
    wait_for(lambda: _market(d).get("busy") == JOB and _market(d)["alive"]
             and _report(d).actors_alive, 15, "the busy market-data actor counted alive")
    assert _market(d)["budget_s"] == BUDGET_S
    assert d.watchdog_tick() is True
    code, body = api.call("GET", "/health")
    assert code == 200 and body["actors_alive"] is True, body
    assert not any("market_data" in r for r in body["reasons"]), body

    clock.advance(timedelta(seconds=BUDGET_S))  # now past the budget and its grace
    stuck = f"actor market_data is stuck: {JOB} overran its budget of {BUDGET_S} s"
    wait_for(lambda: stuck in _report(d).reasons, 15, "the overrun reported")
    assert d.watchdog_tick() is False
    code, body = api.call("GET", "/health")
    assert code == 503 and stuck in body["reasons"], body

    slow.armed.clear()
    slow.release.set()
    wait_for(lambda: _run_ok(d, started["run_id"]), 90, "the slow job to finish")
    wait_for(lambda: "busy" not in _market(d) and _report(d).actors_alive, 15,
             "market data plainly alive again")
    assert d.watchdog_tick() is True


def test_a_job_shorter_than_a_beat_sends_nothing_and_a_long_one_ends_not_busy() -> None:
    sent: list[Heartbeat] = []
    beaten = threading.Event()

    def send(beat: Heartbeat) -> None:
        sent.append(beat)
        if beat.busy:
            beaten.set()

    clock = ManualClock(datetime(2022, 12, 20, 15, 0, tzinfo=UTC))
    quiet = JobBeat("a", send, clock, every_s=3600)
    quiet.begin("short", 60)
    quiet.end()
    assert sent == []

    beat = JobBeat("a", send, clock, every_s=0.01)
    beat.begin("long", 60)
    assert beaten.wait(10)
    beat.end()
    assert sent[0].busy == "long" and sent[0].budget_s == 60
    assert sent[0].busy_since == clock.now()
    assert sent[-1].busy == "" and sent[-1].busy_since is None
    beaten.clear()
    beat.begin("next", 60)  # the beat thread beats for the next job
    assert beaten.wait(10)
    beat.end()
    assert sent[-2].busy == "next" and sent[-1].busy == ""
    with pytest.raises(ValueError, match="budget must be positive"):
        beat.begin("none", 0)


def test_one_thread_beats_for_every_busy_actor_and_ends_when_none_is() -> None:
    """Three actors busy at once are beaten for by one thread, each at its own pace and
    with its own job; an actor whose job ends stops hearing beats at once; the thread
    ends once no job is left and starts again with the next."""
    sent: list[Heartbeat] = []
    lock = threading.Lock()
    three_busy = threading.Event()

    def send(beat: Heartbeat) -> None:
        with lock:
            sent.append(beat)
            if {b.actor for b in sent if b.busy} == {"a", "b", "c"}:
                three_busy.set()

    clock = ManualClock(datetime(2022, 12, 20, 15, 0, tzinfo=UTC))
    hub = BeatHub(idle_exit_s=0.05)
    beats = {name: JobBeat(name, send, clock, every_s=0.01, hub=hub) for name in "abc"}
    before = {t.ident for t in threading.enumerate()}
    for name, beat in beats.items():
        beat.begin(f"job-{name}", 60)
    assert three_busy.wait(10)
    new = [t for t in threading.enumerate() if t.ident not in before]
    assert [t.name for t in new] == ["job-beats"]
    beats["a"].end()
    with lock:  # b and c may be beaten between a's end and this look
        ended_at = max(i for i, b in enumerate(sent) if b.actor == "a") + 1
        assert sent[ended_at - 1] == Heartbeat("a", clock.now())
    wait_for(lambda: sum(1 for b in sent[ended_at:] if b.actor == "b") >= 3, 10,
             "b still beaten")
    assert all(b.busy == f"job-{b.actor}" for b in sent[ended_at:]), sent[ended_at:]
    assert not any(b.actor == "a" for b in sent[ended_at:])
    beats["b"].end()
    beats["c"].end()
    new[0].join(10)
    assert not new[0].is_alive() and not hub.running
    beats["a"].begin("again", 60)
    assert hub.running
    beats["a"].end()


def test_a_failing_beat_stops_no_other_actors_beats() -> None:
    """A send that raises (for one actor) is logged; the other actors are still beaten
    for, and the failing actor's job ends without raising."""
    good, failed = threading.Event(), threading.Event()

    def broken(beat: Heartbeat) -> None:
        failed.set()
        raise RuntimeError("health is gone")

    def send(beat: Heartbeat) -> None:
        if beat.busy:
            good.set()

    clock = ManualClock(datetime(2022, 12, 20, 15, 0, tzinfo=UTC))
    hub = BeatHub(idle_exit_s=0.05)
    failing = JobBeat("x", broken, clock, every_s=0.01, hub=hub)
    working = JobBeat("y", send, clock, every_s=0.01, hub=hub)
    failing.begin("sync", 60)
    assert failed.wait(10)
    working.begin("sync", 60)
    assert good.wait(10)
    failing.end()
    working.end()
