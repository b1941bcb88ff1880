"""Session tables built in a child process: the same tables as the library gives in this
process, a garbage or failing child means "closed" (and a later retry), and the daemon's
calendar queries never load pandas or exchange_calendars."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Sequence
from datetime import UTC, date, datetime

import numpy as np
import pytest

from arduino_trader.adapters.market_data import calendars as calendars_module
from arduino_trader.adapters.market_data.calendars import MarketCalendars
from arduino_trader.adapters.market_data.session_tables import (
    NAT,
    SessionTable,
    SessionTablesUnavailable,
    Tables,
    build_in_child,
    build_tables,
    decode,
    encode,
)

START = date(2026, 10, 1)


def test_the_child_builds_the_tables_this_process_would() -> None:
    """Hong Kong has a lunch break, New York an early close: every column, every session."""
    names = ["XHKG", "XNYS", "NO_SUCH_CALENDAR"]
    child = build_in_child(names, START)
    here = build_tables(names, START)
    assert isinstance(child["NO_SUCH_CALENDAR"], str)
    assert child["NO_SUCH_CALENDAR"] == here["NO_SUCH_CALENDAR"]
    for name in ("XHKG", "XNYS"):
        ours, theirs = child[name], here[name]
        assert isinstance(ours, SessionTable) and isinstance(theirs, SessionTable)
        assert ours.last_session == theirs.last_session
        for column in ("opens", "closes", "break_starts", "break_ends"):
            np.testing.assert_array_equal(getattr(ours, column), getattr(theirs, column))
    hkg = child["XHKG"]
    assert isinstance(hkg, SessionTable) and len(hkg.opens) > 250
    lunch = hkg.break_starts != NAT  # Hong Kong breaks for lunch (not on its half days)
    assert lunch.mean() > 0.9 and np.all(hkg.break_starts[lunch] > hkg.opens[lunch])


def _table_doc() -> dict[str, dict[str, object]]:
    return json.loads(encode({"XNYS": SessionTable(
        np.array([10, 20]), np.array([15, 25]), np.array([0, 0]), np.array([0, 0]),
        date(2027, 1, 1))}))


@pytest.mark.parametrize("damage", [
    lambda d: d.pop("XNYS"),
    lambda d: d["XNYS"].update(opens=[10]),
    lambda d: d["XNYS"].update(opens=[20, 10]),
    lambda d: d["XNYS"].update(closes=[5, 25]),
    lambda d: d["XNYS"].update(opens=[10.5, 20]),
    lambda d: d["XNYS"].update(last_session="soon"),
    lambda d: d.update(XNYS=[1, 2]),
])
def test_a_damaged_answer_is_refused(damage: object) -> None:
    doc = _table_doc()
    assert isinstance(decode(json.dumps(doc), ["XNYS"])["XNYS"], SessionTable)
    damage(doc)  # type: ignore[operator]
    with pytest.raises(ValueError):
        decode(json.dumps(doc), ["XNYS"])


def test_a_failing_child_means_closed_and_is_retried_later(
        monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[list[str]] = []
    clock = [1000.0]
    monkeypatch.setattr(calendars_module.time, "monotonic", lambda: clock[0])

    def builder(names: Sequence[str], start: date, end: date | None) -> Tables:
        calls.append(list(names))
        if len(calls) == 1:
            raise SessionTablesUnavailable("session tables child exited with -9: killed")
        return build_tables(names, start, end)

    cals = MarketCalendars(today=date(2026, 11, 24), builder=builder)
    monday_noon = datetime(2026, 11, 23, 17, 0, tzinfo=UTC)  # New York open
    assert cals.is_open("XNYS", monday_noon) is False
    assert "exited with -9" in (cals.error("XNYS") or "")
    assert cals.status("XNYS", monday_noon).open is False
    assert calls == [["XNYS"]]  # not asked again at every query
    clock[0] += calendars_module.RETRY_AFTER_S
    assert cals.is_open("XNYS", monday_noon) is True
    assert cals.error("XNYS") is None
    assert calls == [["XNYS"], ["XNYS"]]


def test_load_asks_the_builder_once_for_every_missing_calendar() -> None:
    calls: list[list[str]] = []

    def builder(names: Sequence[str], start: date, end: date | None) -> Tables:
        calls.append(list(names))
        return build_tables(names, start, end)

    cals = MarketCalendars(today=date(2026, 11, 24), builder=builder)
    cals.load(["XNYS", "XNAS", "XHKG", "XSHE", "XSHG", "NOPE"])
    assert calls == [["XHKG", "XNAS", "XNYS", "XSHG"]]  # Shenzhen reads Shanghai's
    for mic in ("XNYS", "XNAS", "XHKG", "XSHE"):
        assert cals.error(mic) is None
    assert calls == [["XHKG", "XNAS", "XNYS", "XSHG"]]


def test_calendar_queries_leave_pandas_and_the_library_unloaded() -> None:
    """In a fresh interpreter: a calendar query and the demo's session dates run, and
    neither pandas nor exchange_calendars is imported (~37 MB resident for good)."""
    code = (
        "import sys\n"
        "from datetime import UTC, date, datetime\n"
        "from arduino_trader.adapters.market_data.calendars import MarketCalendars\n"
        "from arduino_trader.daemon.demo_timing import session_close, sessions_ending\n"
        "cals = MarketCalendars(today=date(2026, 11, 24))\n"
        "assert cals.is_open('XNYS', datetime(2026, 11, 23, 17, tzinfo=UTC))\n"
        "assert not cals.is_open('XNYS', datetime(2026, 11, 26, 17, tzinfo=UTC))\n"
        "assert len(sessions_ending(date(2026, 11, 24), 300)) == 300\n"
        "assert session_close(date(2026, 11, 27)).hour == 18\n"
        "print(sorted(m for m in ('pandas', 'exchange_calendars') if m in sys.modules))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=300)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize(("program", "why"), [
    ("/bin/false", "exited with 1"),  # the child fails
    ("/bin/echo", "answered"),  # the child prints something that is not the tables
    ("/no/such/python", "session tables child"),  # the child cannot start
])
def test_a_child_that_fails_or_answers_garbage_is_unavailable(
        monkeypatch: pytest.MonkeyPatch, program: str, why: str) -> None:
    from arduino_trader.adapters.market_data import session_tables

    monkeypatch.setattr(session_tables.sys, "executable", program)
    with pytest.raises(SessionTablesUnavailable, match=why):
        build_in_child(["XNYS"], START)
