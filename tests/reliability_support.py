"""Shared helpers of the reliability tests: a store digest, a quiet daemon, ledger counts."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from daemon_harness import Client, ProbeDaemon, start_daemon, wait_for

from arduino_trader.adapters.clock import ManualClock
from arduino_trader.adapters.market_data.calendars import MarketCalendars
from arduino_trader.adapters.sandbox.server import Sandbox, SandboxThread
from arduino_trader.config.settings import load_settings
from arduino_trader.daemon.demo import DemoDaemon, demo_settings
from arduino_trader.daemon.service import DaemonOptions, TraderDaemon
from arduino_trader.protocols.planning import GetPlan, PlannerStatus, PlanSummary

D = TypeVar("D", bound=DemoDaemon)

# A Tuesday mid-morning UTC: European and US calendars are in session hours nearby.
FROZEN_START = datetime(2026, 3, 3, 10, 0, tzinfo=UTC)


def manual_clock(start: datetime = FROZEN_START) -> ManualClock:
    """A clock that never moves by itself, so no schedule fires during a test."""
    return ManualClock(start)


# The wall time the trading rigs start from, whatever the date they run on: the sandbox's
# prices are a function of the date (a yearly swing of up to ±15 %), so a rig on today's
# session made a test's outcome depend on the day CI ran (a position cap hit one day and
# not the next). The rigs still run in real time from there (``ShiftedClock``).
RIG_WALL = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)  # a Monday: Friday's session


def session_moment(mic: str = "XNAS", wall: datetime | None = None) -> datetime:
    """The latest 16:00 UTC of a trading day, at or before ``wall`` (``RIG_WALL`` when
    not given), from which ``mic`` is tradable for the next hour (30-minute buffers
    included): tests that trade run there, whatever the wall time (night, weekend)."""
    wall = wall or RIG_WALL
    calendars = MarketCalendars(today=wall.date())
    day = wall.date()
    for _ in range(15):
        moment = datetime(day.year, day.month, day.day, 16, 0, tzinfo=UTC)
        if moment <= wall and all(calendars.is_tradable(mic, moment + timedelta(minutes=m))
                                  for m in (0, 30, 60)):
            return moment
        day -= timedelta(days=1)
    raise RuntimeError(f"no {mic} session found in the last two weeks")


class ShiftedClock:
    """Wall time moved by a fixed offset: runs in real time inside an open session."""

    def __init__(self, start: datetime) -> None:
        self.offset = start - datetime.now(UTC)

    def now(self) -> datetime:
        """Wall time plus the offset."""
        return datetime.now(UTC) + self.offset

    def monotonic(self) -> float:
        """``time.monotonic()``."""
        return time.monotonic()


# A Tuesday afternoon in an open NYSE session (the demo's re-dated history ends the day
# before).
DEMO_TUESDAY = datetime(2026, 1, 6, 16, 0, tzinfo=UTC)


@contextmanager
def running_demo(cls: type[D], data_dir: Path, at: datetime = DEMO_TUESDAY,
                 env: Mapping[str, str] | None = None) -> Iterator[D]:
    """The demo daemon ``cls`` (``DemoDaemon`` or a subclass) on ``ShiftedClock(at)`` with
    a free port and the settings ``env`` gives, started, and stopped on exit."""
    settings = demo_settings(load_settings(None, environ=dict(env or {})))
    daemon = cls(DaemonOptions(settings=settings, data_dir=data_dir, clock=ShiftedClock(at),
                               configure_logs=False, port_override=0,
                               supervisor_backoff_s=0.2))
    daemon.start()
    try:
        yield daemon
    finally:
        daemon.stop()


class GatedSourceDemo(DemoDaemon):
    """A demo whose market source is handed once to :meth:`gate_source` (a subclass
    wraps some of its methods there to hold them back until ``released`` is set, the
    order a slow start takes)."""

    def __init__(self, options: DaemonOptions) -> None:
        super().__init__(options)
        self.released = threading.Event()
        self._gated = False

    def gate_source(self, source: Any) -> None:
        """Wrap ``source``'s methods; called once, with the first source built."""

    def _market_source(self) -> Any:
        source = super()._market_source()
        if not self._gated:
            self._gated = True
            self.gate_source(source)
        return source


G = TypeVar("G", bound=GatedSourceDemo)


@contextmanager
def gated_demo(cls: type[G], data_dir: Path) -> Iterator[G]:
    """:func:`running_demo` of a :class:`GatedSourceDemo`, released on exit (so no
    held thread outlives the test)."""
    with running_demo(cls, data_dir) as daemon:
        try:
            yield daemon
        finally:
            daemon.released.set()


def planner_status(daemon: TraderDaemon) -> PlannerStatus:
    """The planner actor's status."""
    status = daemon.bus.ask("planner", GetPlan(), 30)
    assert isinstance(status, PlannerStatus)
    return status


def last_plan(daemon: TraderDaemon) -> PlanSummary | None:
    """The planner's last summary (None before its first plan)."""
    return planner_status(daemon).last_summary


class ClockedSandbox(Sandbox):
    """The sandbox whose account and market live at ``moment()`` (the daemon's clock)
    while signatures are still checked against wall time (the client signs with it)."""

    @staticmethod
    def moment() -> datetime:
        """The sandbox's time (overridden per instance class by :func:`clocked_sandbox`)."""
        return datetime.now(UTC)

    def now(self) -> datetime:
        """The simulated moment."""
        return self.moment()


@contextmanager
def clocked_sandbox(state: Path | None, moment: Callable[[], datetime],
                    seed: int = 7) -> Iterator[SandboxThread]:
    """A sandbox on a loopback port whose time is ``moment()``."""
    cls: type[ClockedSandbox] = type("BoundSandbox", (ClockedSandbox,),
                                     {"moment": staticmethod(moment)})
    sandbox = cls.create(state, seed, wall_time=time.time)
    with sandbox.account.lock:  # the opening deposit is dated by the sandbox's time
        sandbox.account.state["cash_flows"][0]["date"] = \
            moment().strftime("%Y-%m-%dT%H:%M:%S")
        sandbox.account.save()
    thread = SandboxThread(sandbox).start()
    try:
        yield thread
    finally:
        thread.stop()


def db_path(daemon: ProbeDaemon) -> Path:
    """The daemon's SQLite file."""
    return Path(daemon.store.path)


def _tables(conn: sqlite3.Connection) -> list[str]:
    rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' "
                        "AND name NOT LIKE 'sqlite_%' ORDER BY name").fetchall()
    return [str(r[0]) for r in rows]


def _readonly(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10,
                           isolation_level=None, check_same_thread=False)


def _digests(conn: sqlite3.Connection, exclude: Iterable[str]) -> dict[str, str]:
    skip = set(exclude)
    out: dict[str, str] = {}
    for name in _tables(conn):
        if name in skip:
            continue
        rows = conn.execute(f'SELECT * FROM "{name}"').fetchall()
        digest = hashlib.sha256()
        for text in sorted(repr(r) for r in rows):
            digest.update(text.encode())
        out[name] = digest.hexdigest()
    return out


def table_digests(path: Path, exclude: Iterable[str] = ()) -> dict[str, str]:
    """SHA-256 of every table's rows (order-independent), read through a separate
    read-only connection (WAL: sees the last committed state)."""
    conn = _readonly(path)
    try:
        return _digests(conn, exclude)
    finally:
        conn.close()


class StoreWatch:
    """Which tables changed between :meth:`mark` and :meth:`changed`, cheaply.

    ``mark`` opens a read transaction (a WAL snapshot of the state before); ``changed``
    asks ``PRAGMA data_version`` whether anything was committed since, and only then
    digests the snapshot and the current state table by table.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._probe = _readonly(path)
        self._snapshot = _readonly(path)
        self._version = 0
        self._open = False

    def _data_version(self) -> int:
        return int(self._probe.execute("PRAGMA data_version").fetchone()[0])

    def mark(self) -> None:
        """Remember the current committed state."""
        self._end()
        self._snapshot.execute("BEGIN")
        self._snapshot.execute("SELECT count(*) FROM sqlite_master").fetchone()
        self._version = self._data_version()
        self._open = True

    def changed(self, exclude: Iterable[str] = ()) -> list[str]:
        """Tables (not in ``exclude``) whose rows differ from the marked state."""
        assert self._open, "mark() first"
        try:
            if self._data_version() == self._version:
                return []
            before = _digests(self._snapshot, exclude)
            return changed_tables(before, table_digests(self.path, exclude))
        finally:
            self._end()

    def _end(self) -> None:
        if self._open:
            self._snapshot.execute("COMMIT")
            self._open = False

    def close(self) -> None:
        """Release both connections."""
        self._end()
        self._probe.close()
        self._snapshot.close()


def changed_tables(before: dict[str, str], after: dict[str, str]) -> list[str]:
    """Names of the tables whose digest differs (or that appeared/vanished)."""
    return sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))


def count(path: Path, sql: str, params: tuple[object, ...] = ()) -> int:
    """One integer from a read-only query."""
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10) as conn:
        return int(conn.execute(sql, params).fetchone()[0])


def wait_idle(daemon: ProbeDaemon, timeout: float = 30.0) -> None:
    """Wait until the daemon is quiet: no scheduler job running or due at the daemon's
    clock (a due job starts at the scheduler's next tick), and every message the jobs
    handed to actors handled (the bus settled), twice in a row."""
    scheduler = daemon.scheduler
    assert scheduler is not None
    end = time.monotonic() + timeout
    busy: list[str] = []
    quiet = 0
    while time.monotonic() < end:
        busy = scheduler.running() + scheduler.due_jobs(daemon.clock.now())
        settled = not busy and daemon.bus.settle(max(0.0, end - time.monotonic()))
        quiet = quiet + 1 if settled and not scheduler.running() else 0
        if quiet >= 2:
            return
        time.sleep(0.05)
    raise AssertionError(f"daemon not idle after {timeout} s: jobs {busy}")


# Tables a refused request may still write: the job log and the record of refused orders.
AUDIT_TABLES: tuple[str, ...] = ("job_runs", "order_rejections")


def raw_body(body: Any) -> bytes:
    """A request body as sent: bytes as given, a str encoded, anything else as JSON."""
    if isinstance(body, bytes):
        return body
    return body.encode() if isinstance(body, str) else json.dumps(body).encode()


def call_unchanged(daemon: ProbeDaemon, method: str, path: str, body: Any = None, *,
                   status: int = 400, exclude: Iterable[str] = AUDIT_TABLES
                   ) -> dict[str, Any]:
    """Send ``body`` once the daemon is idle; assert the answer's status and that no table
    (but ``exclude``) changed by the time it is idle again; the answer."""
    watch = StoreWatch(db_path(daemon))
    try:
        wait_idle(daemon, 60)
        watch.mark()
        raw = None if body is None else raw_body(body)
        code, answer = Client(daemon).call(method, path, raw=raw)
        assert code == status, answer
        wait_idle(daemon, 60)
        assert watch.changed(exclude=exclude) == []
        return dict(answer)
    finally:
        watch.close()


def start_settled_daemon(data_dir: Path) -> ProbeDaemon:
    """A daemon on a manual clock whose planner stays quiet (an hour's debounce), idle
    after its start-up sync has booked the paper account's deposit into the buckets (the
    cash-flow and satellite actors do that after the sync job ends). Stop it when done."""
    d = start_daemon(data_dir, clock=manual_clock(),
                     env={"ARDUINO_TRADER_PLANNER_DEBOUNCE_SECONDS": "3600"})
    try:
        wait_idle(d, 60)
        wait_for(lambda: count(db_path(d), "SELECT COUNT(*) FROM bucket_balances") > 0, 60,
                 "the start-up deposit settled")
        wait_idle(d, 60)
    except BaseException:
        d.stop()
        raise
    return d
