"""Exchange session tables from the maintained ``exchange_calendars`` library, built in a
child process.

The library stands on pandas: importing both and building one calendar costs the process
~37 MB resident for good (and ~1 s) that nothing else in the daemon needs. The tables the
daemon reads are four integer arrays per calendar, so a short-lived child
(``python -m arduino_trader.adapters.market_data.session_tables START [END] NAME...``)
builds them and prints them as JSON; :func:`build_in_child` runs it and checks the
answer. :func:`build_tables` is the same work in the calling process (the child's body).
"""

from __future__ import annotations

import json
import subprocess
import sys
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
import numpy.typing as npt

I64 = npt.NDArray[np.int64]
NAT = int(np.iinfo(np.int64).min)  # "no lunch break" in the break columns
CHILD_TIMEOUT_S = 900.0  # a slow board under load: the first build imports pandas


@dataclass(frozen=True)
class SessionTable:
    """One calendar's sessions in order: open, lunch-break start/end (``NAT`` when none)
    and close as UTC nanoseconds, and the last session the library knows."""

    opens: I64
    closes: I64
    break_starts: I64
    break_ends: I64
    last_session: date


# Per calendar name: its table, or why it could not be built.
Tables = dict[str, SessionTable | str]
TableBuilder = Callable[[Sequence[str], date, date | None], Tables]


class SessionTablesUnavailable(RuntimeError):
    """The child that builds session tables failed, timed out or answered garbage."""


def _nanos(column: Any) -> I64:
    values = column.dt.tz_convert(None).to_numpy(dtype="datetime64[ns]").astype(np.int64)
    return np.asarray(values, dtype=np.int64)


def build_tables(names: Sequence[str], start: date, end: date | None = None) -> Tables:
    """The session tables of ``names`` from ``start`` (to ``end``, else the library's
    default of a year ahead), built here: imports pandas and exchange_calendars."""
    import exchange_calendars as xc
    import pandas as pd

    out: Tables = {}
    for name in names:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                kwargs = {"end": pd.Timestamp(end)} if end is not None else {}
                cal = xc.get_calendar(name, start=pd.Timestamp(start), **kwargs)
                schedule = cal.schedule
                out[name] = SessionTable(
                    _nanos(schedule["open"]), _nanos(schedule["close"]),
                    _nanos(schedule["break_start"]), _nanos(schedule["break_end"]),
                    cal.last_session.date())
        except Exception as exc:  # the library failing means "closed" for that venue
            out[name] = f"calendar {name} unavailable: {type(exc).__name__}"
    return out


def encode(tables: Tables) -> str:
    """JSON text of ``tables`` (what the child prints)."""
    doc: dict[str, Any] = {}
    for name, table in tables.items():
        if isinstance(table, str):
            doc[name] = {"error": table}
        else:
            doc[name] = {"opens": table.opens.tolist(), "closes": table.closes.tolist(),
                         "break_starts": table.break_starts.tolist(),
                         "break_ends": table.break_ends.tolist(),
                         "last_session": table.last_session.isoformat()}
    return json.dumps(doc, separators=(",", ":"))


def _column(entry: dict[str, Any], key: str, name: str) -> I64:
    values = entry.get(key)
    if not isinstance(values, list) or not all(type(v) is int for v in values):
        raise ValueError(f"calendar {name}: {key} is not a list of integers")
    return np.array(values, dtype=np.int64)


def decode(text: str, names: Sequence[str]) -> Tables:
    """The tables in ``text`` for exactly ``names``; ``ValueError`` on anything else
    (a missing calendar, columns of unequal length, opens out of order)."""
    doc = json.loads(text)
    if not isinstance(doc, dict) or set(doc) != set(names):
        raise ValueError(f"session tables for {sorted(names)} expected")
    out: Tables = {}
    for name in names:
        entry = doc[name]
        if not isinstance(entry, dict):
            raise ValueError(f"calendar {name}: not an object")
        if "error" in entry:
            out[name] = str(entry["error"])
            continue
        opens, closes, b_start, b_end = (_column(entry, k, name) for k in (
            "opens", "closes", "break_starts", "break_ends"))
        if not len(opens) == len(closes) == len(b_start) == len(b_end):
            raise ValueError(f"calendar {name}: columns of unequal length")
        if np.any(np.diff(opens) <= 0) or np.any(closes <= opens):
            raise ValueError(f"calendar {name}: sessions out of order")
        out[name] = SessionTable(opens, closes, b_start, b_end,
                                 date.fromisoformat(str(entry.get("last_session"))))
    return out


def build_in_child(names: Sequence[str], start: date, end: date | None = None, *,
                   timeout_s: float = CHILD_TIMEOUT_S) -> Tables:
    """:func:`build_tables` run in a child interpreter (this one's), so pandas never
    loads here; ``SessionTablesUnavailable`` when the child fails or answers garbage."""
    args = [start.isoformat(), *([end.isoformat()] if end is not None else []), *names]
    try:
        done = subprocess.run(  # noqa: S603 - this interpreter, our module, dates and names
            [sys.executable, "-m", __name__, *args], capture_output=True, text=True,
            timeout=timeout_s, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise SessionTablesUnavailable(f"session tables child: {exc}") from exc
    if done.returncode != 0:
        tail = done.stderr.strip().splitlines()[-1:] or ["no message"]
        raise SessionTablesUnavailable(
            f"session tables child exited with {done.returncode}: {tail[0][:300]}")
    lines = done.stdout.strip().splitlines()  # the answer is the last line printed
    try:
        return decode(lines[-1] if lines else "", names)
    except ValueError as exc:  # json.JSONDecodeError is a ValueError
        raise SessionTablesUnavailable(f"session tables child answered: {exc}") from exc


def main(argv: Sequence[str]) -> int:
    """``START [END] NAME...`` → the tables as one JSON line on stdout."""
    if len(argv) < 2:
        print("usage: session_tables START [END] NAME...", file=sys.stderr)
        return 2
    start = date.fromisoformat(argv[0])
    try:
        end: date | None = date.fromisoformat(argv[1])
        names = argv[2:]
    except ValueError:
        end, names = None, argv[1:]
    print(encode(build_tables(names, start, end)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
