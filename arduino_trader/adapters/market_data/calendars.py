"""Market hours from the maintained ``exchange_calendars`` library.

Keyed by MIC; an exchange that is unknown, whose calendar cannot be built, or whose
calendar has ended is **closed** (never a fallback to another venue). Sessions, lunch
breaks, holidays and early closes all come from the library, through the session tables
a child process builds (:mod:`.session_tables`: the library's pandas never loads in the
daemon); this module only reads those tables (open / break / close per session, UTC) and
answers ``is_open``, next open/close and the status shown by ``GET /api/system/markets``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np

from .session_tables import (
    NAT,
    SessionTable,
    SessionTablesUnavailable,
    TableBuilder,
    Tables,
    build_in_child,
)

_NAT = NAT
RETRY_AFTER_S = 300.0  # a failed child is tried again after this long, not at every call


@dataclass(frozen=True)
class Exchange:
    """One venue: MIC, display name, library calendar, time zone, strictness."""

    mic: str
    name: str
    calendar: str
    tz: str
    strict: bool
    broker_code: str = ""
    note: str = ""


# above. Shenzhen has no calendar of its own in the library: mainland China's two
# exchanges share the CSRC holiday schedule and sessions, so XSHE reads XSHG's. NSE
# likewise shares SEBI's holiday list and 09:15-15:30 session with BSE (XBOM).
EXCHANGES: dict[str, Exchange] = {e.mic: e for e in (
    Exchange("XNYS", "NYSE", "XNYS", "America/New_York", False, "FIX"),
    Exchange("XNAS", "NASDAQ", "XNAS", "America/New_York", False, "FIX"),
    Exchange("XLON", "LSE", "XLON", "Europe/London", False),
    Exchange("XETR", "XETRA", "XETR", "Europe/Berlin", False, "EU"),
    Exchange("XPAR", "Paris", "XPAR", "Europe/Paris", False, "EU"),
    Exchange("XAMS", "Amsterdam", "XAMS", "Europe/Amsterdam", False, "EU"),
    Exchange("XMIL", "Milan", "XMIL", "Europe/Rome", False, "EU"),
    Exchange("XCSE", "Copenhagen", "XCSE", "Europe/Copenhagen", False, "EU"),
    Exchange("XSWX", "SIX", "XSWX", "Europe/Zurich", False, "EU"),
    Exchange("XATH", "Athens", "ASEX", "Europe/Athens", False, "ATHEX"),
    Exchange("XHKG", "HKSE", "XHKG", "Asia/Hong_Kong", True, "HKEX"),
    Exchange("XSHE", "Shenzhen", "XSHG", "Asia/Shanghai", True, "SZSE",
             note="shares the Shanghai (CSRC) calendar"),
    Exchange("XSHG", "Shanghai", "XSHG", "Asia/Shanghai", True, "SSE"),
    Exchange("XTKS", "TSE (Tokyo)", "XTKS", "Asia/Tokyo", True),
    Exchange("XTSE", "TSX", "XTSE", "America/Toronto", False, "TSX"),
    Exchange("XASX", "ASX", "XASX", "Australia/Sydney", True),
    Exchange("XSES", "SGX", "XSES", "Asia/Singapore", True, "SGX"),
    Exchange("XKRX", "KRX", "XKRX", "Asia/Seoul", True),
    Exchange("XTAI", "TWSE", "XTAI", "Asia/Taipei", True),
    Exchange("XNSE", "NSE", "XBOM", "Asia/Kolkata", True, "NSE",
             note="shares the BSE (SEBI) calendar"),
)}


class CalendarUnavailable(RuntimeError):
    """No usable calendar for an exchange (unknown MIC or the library failed)."""


@dataclass(frozen=True)
class MarketStatus:
    """One exchange at one moment (``GET /api/system/markets``)."""

    mic: str
    name: str
    tz: str
    open: bool
    in_break: bool
    closes_at: datetime | None
    opens_at: datetime | None
    calendar_end: date | None
    strict: bool
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        """JSON form; ``opens_date`` is the local date of the next open."""
        opens_date = None
        if self.opens_at is not None:
            from zoneinfo import ZoneInfo
            opens_date = self.opens_at.astimezone(ZoneInfo(self.tz)).date().isoformat()
        return {
            "mic": self.mic, "name": self.name, "code": self.mic, "tz": self.tz,
            "open": self.open, "in_break": self.in_break, "strict": self.strict,
            "closes_at": _iso(self.closes_at), "opens_at": _iso(self.opens_at),
            "opens_date": opens_date,
            "calendar_end": self.calendar_end.isoformat() if self.calendar_end else None,
            "error": self.error,
        }


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def _ns(moment: datetime) -> int:
    if moment.tzinfo is None:
        raise ValueError("market hours need a tz-aware time")
    delta = moment.astimezone(UTC) - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1000


def _dt(nanos: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=int(nanos) // 1000)


class MarketCalendars:
    """Lazily built calendars per MIC (thread-safe); ``history_days`` of past sessions.

    ``builder`` makes the session tables (by default in a child process, see
    :mod:`.session_tables`); :meth:`load` asks it for several calendars at once."""

    def __init__(self, *, history_days: int = 30, today: date | None = None,
                 builder: TableBuilder = build_in_child) -> None:
        self._history_days = history_days
        self.built_for = today or datetime.now(UTC).date()
        self._builder = builder
        self._sessions: dict[str, SessionTable] = {}
        self._errors: dict[str, str] = {}
        self._retry_at: dict[str, float] = {}  # calendars whose builder failed: when again
        self._failed_builds: dict[str, str] = {}  # and why (until the retry succeeds)
        self._lock = threading.Lock()
        self._built = threading.Condition(self._lock)  # a build of another thread ended
        self._building: set[str] = set()  # calendar names some thread is building now
        self._generation = 0  # renewals so far: a build of an older one is dropped

    def load(self, mics: Iterable[str]) -> None:
        """Build the calendars of ``mics`` not built yet in one call of the builder (one
        child for the lot); failures are kept and reported per MIC by the queries.

        The build runs outside the lock: a query for a calendar already built never waits
        for another thread's build; a calendar another thread is building is waited
        for, not built twice."""
        names = sorted({EXCHANGES[m].calendar for m in mics if m in EXCHANGES})
        while True:
            with self._lock:
                now = time.monotonic()
                missing = [n for n in names if n not in self._sessions
                           and n not in self._errors and self._retry_at.get(n, 0.0) <= now]
                if not missing:
                    return
                mine = [n for n in missing if n not in self._building]
                if not mine:  # every one is being built by another thread
                    self._built.wait()
                    continue
                self._building.update(mine)
                generation = self._generation
                start = self.built_for - timedelta(days=self._history_days)
            outcome: Tables | SessionTablesUnavailable | None = None
            try:
                outcome = self._builder(mine, start, None)
            except SessionTablesUnavailable as exc:
                outcome = exc
            finally:  # anything else the builder raised goes on up, nothing kept
                with self._lock:
                    self._building.difference_update(mine)
                    if outcome is not None and generation == self._generation:
                        self._keep(mine, outcome, now)  # (not renewed meanwhile)
                    self._built.notify_all()

    def _keep(self, names: list[str], outcome: Tables | SessionTablesUnavailable,
              started: float) -> None:
        """Store one build's tables or failure (the lock held)."""
        for name in names:
            if isinstance(outcome, SessionTablesUnavailable):
                self._retry_at[name] = started + RETRY_AFTER_S
                self._failed_builds[name] = f"calendar {name} unavailable: {outcome}"
                continue
            table = outcome.get(name, f"calendar {name} unavailable: not built")
            if isinstance(table, str):
                self._errors[name] = table
            else:
                self._sessions[name] = table
            self._retry_at.pop(name, None)
            self._failed_builds.pop(name, None)

    def _load(self, mic: str) -> SessionTable:
        exchange = EXCHANGES.get(mic)
        if exchange is None:
            raise CalendarUnavailable(f"unknown exchange {mic!r}")
        self.load((mic,))
        name = exchange.calendar
        with self._lock:
            cached = self._sessions.get(name)
            if cached is not None:
                return cached
            raise CalendarUnavailable(self._errors.get(name) or self._failed_builds.get(
                name, f"calendar {name} unavailable"))

    def outdated(self, today: date, max_days: int = 7) -> bool:
        """True when built for a day more than ``max_days`` before ``today`` (the
        library's session tables reach one year past their build day: rebuild weekly), or
        when ``today`` lies before the past sessions it was built with (a calendar built
        with a long ``history_days`` — a backtest's — serves its whole span)."""
        ahead = (today - self.built_for).days
        return ahead > max_days or -ahead > max_days + max(0, self._history_days - 30)

    def renew(self, today: date) -> bool:
        """Start over from ``today`` when :meth:`outdated` (the tables built so far are
        dropped and rebuilt on the next query), so one instance serves a daemon that runs
        for years; True when it renewed."""
        with self._lock:
            if not self.outdated(today):
                return False
            self.built_for = today
            self._generation += 1
            self._sessions.clear()
            self._errors.clear()
            self._retry_at.clear()
            self._failed_builds.clear()
            return True

    # ---------------------------------------------------------------- queries
    def calendar_end(self, mic: str) -> date | None:
        """Last session the library knows for ``mic`` (None when unavailable)."""
        try:
            return self._load(mic).last_session
        except CalendarUnavailable:
            return None

    def error(self, mic: str) -> str | None:
        """Why the calendar of ``mic`` is unavailable (None when it is fine)."""
        try:
            self._load(mic)
        except CalendarUnavailable as exc:
            return str(exc)
        return None

    def _index(self, s: SessionTable, t: int) -> int:
        """Index of the last session opening at or before ``t`` (-1 if none)."""
        return int(np.searchsorted(s.opens, t, side="right")) - 1

    def is_open(self, mic: str, at: datetime) -> bool:
        """Inside a regular session and outside its lunch break; unknown ⇒ False."""
        try:
            s = self._load(mic)
        except CalendarUnavailable:
            return False
        t = _ns(at)
        i = self._index(s, t)
        if i < 0 or t >= s.closes[i]:
            return False
        bs, be = s.break_starts[i], s.break_ends[i]
        return not (bs != _NAT and bs <= t < be)

    def next_open(self, mic: str, at: datetime) -> datetime | None:
        """The next session open strictly after ``at`` (None beyond the calendar)."""
        s = self._load_or_none(mic)
        if s is None:
            return None
        i = int(np.searchsorted(s.opens, _ns(at), side="right"))
        return _dt(s.opens[i]) if i < len(s.opens) else None

    def next_close(self, mic: str, at: datetime) -> datetime | None:
        """The next session close strictly after ``at`` (None beyond the calendar)."""
        s = self._load_or_none(mic)
        if s is None:
            return None
        i = int(np.searchsorted(s.closes, _ns(at), side="right"))
        return _dt(s.closes[i]) if i < len(s.closes) else None

    def previous_close(self, mic: str, at: datetime) -> datetime | None:
        """The latest session close at or before ``at`` (None when unknown)."""
        s = self._load_or_none(mic)
        if s is None:
            return None
        i = int(np.searchsorted(s.closes, _ns(at), side="right")) - 1
        return _dt(s.closes[i]) if i >= 0 else None

    def may_have_moved(self, mic: str | None, quoted: datetime | None, now: datetime) -> bool:
        """False only when the exchange is closed and a quote printed at ``quoted`` is at
        least as new as its last close (nothing can have changed)."""
        if quoted is None or not mic or self.error(mic) is not None or self.is_open(mic, now):
            return True
        last_close = self.previous_close(mic, now)
        return last_close is None or quoted < last_close

    def _load_or_none(self, mic: str) -> SessionTable | None:
        try:
            return self._load(mic)
        except CalendarUnavailable:
            return None

    def is_tradable(self, mic: str, at: datetime, buffer_minutes: int = 30) -> bool:
        """Open with ``buffer_minutes`` of margin after the open/before the close and around
        the lunch break."""
        margin = timedelta(minutes=buffer_minutes)
        return all(self.is_open(mic, at + d) for d in (-margin, timedelta(0), margin))

    def status(self, mic: str, at: datetime) -> MarketStatus:
        """Open/closed, in break, next close (when open) or next open, calendar end."""
        exchange = EXCHANGES.get(mic)
        if exchange is None:
            return MarketStatus(mic, mic, "UTC", False, False, None, None, None, False,
                                f"unknown exchange {mic!r}")
        try:
            s = self._load(mic)
        except CalendarUnavailable as exc:
            return MarketStatus(mic, exchange.name, exchange.tz, False, False, None, None,
                                None, exchange.strict, str(exc))
        t = _ns(at)
        i = self._index(s, t)
        in_session = i >= 0 and t < s.closes[i]
        bs, be = (s.break_starts[i], s.break_ends[i]) if i >= 0 else (_NAT, _NAT)
        in_break = bool(in_session and bs != _NAT and bs <= t < be)
        is_open = bool(in_session and not in_break)
        closes_at = opens_at = None
        error = None
        if is_open:
            closes_at = _dt(bs) if bs != _NAT and t < bs else _dt(s.closes[i])
        elif in_break:
            opens_at = _dt(be)
        else:
            opens_at = self.next_open(mic, at)
            if opens_at is None:
                error = f"calendar ends {s.last_session.isoformat()}"
        return MarketStatus(mic, exchange.name, exchange.tz, is_open, in_break, closes_at,
                            opens_at, s.last_session, exchange.strict, error)

    def ending_within(self, mics: list[str], at: datetime, days: int) -> dict[str, str]:
        """MIC → problem for calendars that are unavailable or end within ``days``."""
        problems: dict[str, str] = {}
        horizon = at.date() + timedelta(days=days)
        self.load(mics)
        for mic in sorted(set(mics)):
            try:
                end = self._load(mic).last_session
            except CalendarUnavailable as exc:
                problems[mic] = str(exc)
                continue
            if end < horizon:
                problems[mic] = f"calendar ends {end.isoformat()}"
        return problems
