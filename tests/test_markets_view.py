"""The markets view and the actors read one set of calendars, the daemon's own: the view
answers 503 ``calendars_loading`` while they are still being built (never holding a
request for the whole build), every calendar is built once for API and actors alike, and
the set renews itself in place, so a daemon that runs for more than a year still knows
its exchanges' hours (the tables reach about a year past the day they were built)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, date, datetime, time, timedelta
from functools import partial
from pathlib import Path

import numpy as np
import pytest
from daemon_harness import Client, ProbeDaemon, markets_view, start_daemon, wait_for

from arduino_trader.adapters.clock import ManualClock
from arduino_trader.adapters.market_data.calendars import EXCHANGES, MarketCalendars
from arduino_trader.adapters.market_data.session_tables import NAT, SessionTable, Tables
from arduino_trader.daemon.api import routes_market
from arduino_trader.daemon.service import DaemonOptions

START = datetime(2022, 12, 21, 15, 0, tzinfo=UTC)  # a Wednesday, 10:00 in New York
TABLE_DAYS = 300  # shorter than the library's year: a year later the old tables are over


def _ns(moment: datetime) -> int:
    return int((moment - datetime(1970, 1, 1, tzinfo=UTC)).total_seconds()) * 10**9


def weekday_sessions(start: date) -> SessionTable:
    """Sessions 14:30-21:00 UTC on every weekday for TABLE_DAYS from ``start``."""
    days = [start + timedelta(days=i) for i in range(TABLE_DAYS)]
    days = [d for d in days if d.weekday() < 5]
    opens = np.array([_ns(datetime.combine(d, time(14, 30), UTC)) for d in days], np.int64)
    closes = np.array([_ns(datetime.combine(d, time(21, 0), UTC)) for d in days], np.int64)
    nat = np.full(len(days), NAT, np.int64)
    return SessionTable(opens, closes, nat, nat.copy(), days[-1])


class CountingBuilder:
    """Builds every name asked for from ``weekday_sessions``; each call recorded; while
    ``gate`` is clear, a build waits for it (a slow first build after a start)."""

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.entered = threading.Event()  # a build has started
        self.calls: list[tuple[tuple[str, ...], date]] = []
        self._lock = threading.Lock()

    def __call__(self, names: Sequence[str], start: date, end: date | None) -> Tables:
        with self._lock:
            self.calls.append((tuple(names), start))
        self.entered.set()
        self.gate.wait(60)
        return {name: weekday_sessions(start) for name in names}

    def built(self, start: date) -> list[str]:
        """Every calendar name built for ``start``, once per build."""
        with self._lock:
            return sorted(n for names, s in self.calls if s == start for n in names)


class CalendarDaemon(ProbeDaemon):
    """The real daemon whose calendars build through a :class:`CountingBuilder`."""

    def __init__(self, options: DaemonOptions, builder: CountingBuilder) -> None:
        super().__init__(options)
        self._calendars = MarketCalendars(today=self.clock.now().date(), builder=builder)


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[tuple[CalendarDaemon, Client, ManualClock, CountingBuilder]]:
    clock, builder = ManualClock(START), CountingBuilder()
    daemon = start_daemon(tmp_path / "state", clock=clock, daemon_class=CalendarDaemon,
                          builder=builder)
    assert isinstance(daemon, CalendarDaemon)
    yield daemon, Client(daemon), clock, builder
    builder.gate.set()
    daemon.gate.set()
    daemon.stop()


def _run_now(daemon: CalendarDaemon, api: Client, job: str) -> None:
    """A run of ``job`` started by this call (a run already going may predate it)."""
    def finished(run_id: str) -> bool:
        return daemon.store.fetch_one("SELECT 1 FROM job_runs WHERE run_id = ? AND "
                                      "finished_at IS NOT NULL", (run_id,)) is not None

    for _ in range(3):
        code, body = api.call("POST", f"/api/system/jobs/{job}")
        assert code in (202, 409), body
        run_id = str(body["run_id"])
        wait_for(partial(finished, run_id), 30, f"run {run_id} of {job}")
        if code == 202:
            return
    raise AssertionError(f"{job} stayed busy with runs of its own")


def test_the_view_answers_loading_then_every_exchange_from_the_daemons_calendars(
        rig: tuple[CalendarDaemon, Client, ManualClock, CountingBuilder],
        monkeypatch: pytest.MonkeyPatch) -> None:
    daemon, api, clock, builder = rig
    monkeypatch.setattr(routes_market, "MARKETS_WAIT_S", 0.2)
    code, body = api.call("GET", "/api/system/markets")
    assert code == 503 and body["error"] == "calendars_loading"
    assert body["retry_after_s"] == 0.2
    # a dashboard asking again and again while the build goes on: one build, and the
    # API's worker pool (8 threads) stays free for /health and the actors' asks
    for _ in range(12):
        assert api.call("GET", "/api/system/markets")[1]["error"] == "calendars_loading"
    assert api.call("GET", "/health")[0] == 200

    builder.gate.set()
    body = markets_view(api)
    assert body["total"] == len(EXCHANGES) == 20 and body["open_count"] == 20
    xnys = next(m for m in body["markets"] if m["mic"] == "XNYS")
    assert xnys["open"] and xnys["closes_at"] == "2022-12-21T21:00:00+00:00"
    # one build per calendar, whoever asked first (the view or the market-data actor)
    names = sorted({e.calendar for e in EXCHANGES.values()})
    assert builder.built(START.date() - timedelta(days=30)) == names
    calendars = daemon.dependencies().calendars
    assert calendars is not None and calendars.is_tradable("XNYS", clock.now())


def test_a_year_on_the_calendars_renew_in_place_for_the_executor_and_the_view(
        rig: tuple[CalendarDaemon, Client, ManualClock, CountingBuilder]) -> None:
    daemon, api, clock, builder = rig
    builder.gate.set()
    calendars = daemon.dependencies().calendars
    assert calendars is not None and calendars.is_open("XNYS", clock.now())
    later = clock.advance(timedelta(days=399))  # a Wednesday again, 15:00 UTC
    assert not calendars.is_open("XNYS", later)  # the first tables ended in between

    _run_now(daemon, api, "sync_prices")
    assert calendars.built_for == later.date()
    assert calendars.is_tradable("XNYS", later)  # what the executor asks before an order
    assert "XNYS" in builder.built(later.date() - timedelta(days=30))

    body = markets_view(api)
    assert body["open_count"] == 20 and body["at"].startswith(later.date().isoformat())


def test_the_calendars_renew_only_when_outdated() -> None:
    builder = CountingBuilder()
    builder.gate.set()
    today = date(2026, 12, 7)
    calendars = MarketCalendars(today=today, builder=builder)
    assert calendars.is_open("XNYS", datetime(2026, 12, 7, 15, tzinfo=UTC))
    assert not calendars.renew(today + timedelta(days=7))
    assert calendars.is_open("XNYS", datetime(2026, 12, 8, 15, tzinfo=UTC))
    assert len(builder.calls) == 1
    assert calendars.renew(today + timedelta(days=8))
    assert calendars.is_open("XNYS", datetime(2026, 12, 15, 15, tzinfo=UTC))
    assert [start for _, start in builder.calls] == [today - timedelta(days=30),
                                                     today + timedelta(days=8 - 30)]


def _in_thread(call: Callable[[], object]) -> tuple[threading.Thread, list[object]]:
    answers: list[object] = []
    thread = threading.Thread(target=lambda: answers.append(call()), daemon=True)
    thread.start()
    return thread, answers


def test_a_built_calendar_answers_while_another_thread_builds_the_rest() -> None:
    """The executor's market-hours check never waits for the markets view's build, and a
    calendar being built is waited for, not built twice."""
    builder = CountingBuilder()
    builder.gate.set()
    calendars = MarketCalendars(today=date(2026, 12, 7), builder=builder)
    at = datetime(2026, 12, 7, 15, tzinfo=UTC)
    assert calendars.is_open("XNYS", at)
    builder.gate.clear()
    builder.entered.clear()
    everything, _ = _in_thread(lambda: calendars.load(EXCHANGES))
    assert builder.entered.wait(10)  # building every other calendar, held at the gate

    checked, answers = _in_thread(lambda: calendars.is_tradable("XNYS", at))
    checked.join(10)
    assert answers == [True] and everything.is_alive()
    london, in_london = _in_thread(lambda: calendars.is_open("XLON", at))
    builder.gate.set()
    for thread in (everything, london):
        thread.join(10)
        assert not thread.is_alive()
    assert in_london == [True]
    built = [name for names, _ in builder.calls for name in names]
    assert sorted(built) == sorted({e.calendar for e in EXCHANGES.values()})  # each once


def test_a_build_that_a_renewal_overtook_is_dropped_and_made_again() -> None:
    builder = CountingBuilder()
    today = date(2026, 12, 7)
    calendars = MarketCalendars(today=today, builder=builder)
    asking, answers = _in_thread(lambda: calendars.is_open(
        "XNYS", datetime(2026, 12, 16, 15, tzinfo=UTC)))
    assert builder.entered.wait(10)
    assert calendars.renew(today + timedelta(days=9))
    builder.gate.set()
    asking.join(10)
    assert answers == [True]
    assert [start for _, start in builder.calls] == [today - timedelta(days=30),
                                                     today + timedelta(days=9 - 30)]
    assert calendars.built_for == today + timedelta(days=9)
