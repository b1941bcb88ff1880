"""Market hours from the maintained ``exchange_calendars`` library.

Keyed by MIC; an exchange that is unknown, whose calendar cannot be built, or whose
calendar has ended is **closed** (never a fallback to another venue). Sessions, lunch
breaks, holidays and early closes all come from the library; this module only reads
the session table (open / break / close per session, UTC) and answers ``is_open``,
next open/close and the status shown by ``GET /api/system/markets``.
"""

from __future__ import annotations

import threading
import warnings
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np

_NAT = np.iinfo(np.int64).min


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


@dataclass(frozen=True)
class _Sessions:
    opens: np.ndarray
    closes: np.ndarray
    break_starts: np.ndarray
    break_ends: np.ndarray
    last_session: date


def _nanos(column: Any) -> np.ndarray:
    values = column.dt.tz_convert(None).to_numpy(dtype="datetime64[ns]").astype(np.int64)
    return np.asarray(values)


def _ns(moment: datetime) -> int:
    if moment.tzinfo is None:
        raise ValueError("market hours need a tz-aware time")
    delta = moment.astimezone(UTC) - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1000


def _dt(nanos: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=int(nanos) // 1000)


class MarketCalendars:
    """Lazily built calendars per MIC (thread-safe); ``history_days`` of past sessions."""

    def __init__(self, *, history_days: int = 30, today: date | None = None) -> None:
        self._history_days = history_days
        self._today = today
        self.built_for = today or datetime.now(UTC).date()
        self._sessions: dict[str, _Sessions] = {}
        self._errors: dict[str, str] = {}
        self._lock = threading.Lock()

    def _load(self, mic: str) -> _Sessions:
        exchange = EXCHANGES.get(mic)
        if exchange is None:
            raise CalendarUnavailable(f"unknown exchange {mic!r}")
        with self._lock:
            cached = self._sessions.get(exchange.calendar)
            if cached is not None:
                return cached
            if exchange.calendar in self._errors:
                raise CalendarUnavailable(self._errors[exchange.calendar])
            try:
                sessions = self._build(exchange.calendar)
            except Exception as exc:  # the library failing must mean "closed", not a crash
                message = f"calendar {exchange.calendar} unavailable: {type(exc).__name__}"
                self._errors[exchange.calendar] = message
                raise CalendarUnavailable(message) from exc
            self._sessions[exchange.calendar] = sessions
            return sessions

    def _build(self, name: str) -> _Sessions:
        import exchange_calendars as xc
        import pandas as pd

        start = pd.Timestamp(self.built_for - timedelta(days=self._history_days))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            cal = xc.get_calendar(name, start=start)
            schedule = cal.schedule
            breaks_s = _nanos(schedule["break_start"])
            breaks_e = _nanos(schedule["break_end"])
            return _Sessions(_nanos(schedule["open"]), _nanos(schedule["close"]),
                             breaks_s, breaks_e, cal.last_session.date())

    def outdated(self, today: date, max_days: int = 7) -> bool:
        """True when built for a day more than ``max_days`` before ``today`` (the
        library's session tables reach one year past their build day: rebuild weekly), or
        when ``today`` lies before the past sessions it was built with (a calendar built
        with a long ``history_days`` — a backtest's — serves its whole span)."""
        ahead = (today - self.built_for).days
        return ahead > max_days or -ahead > max_days + max(0, self._history_days - 30)

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

    def _index(self, s: _Sessions, t: int) -> int:
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

    def _load_or_none(self, mic: str) -> _Sessions | None:
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
        for mic in sorted(set(mics)):
            try:
                end = self._load(mic).last_session
            except CalendarUnavailable as exc:
                problems[mic] = str(exc)
                continue
            if end < horizon:
                problems[mic] = f"calendar ends {end.isoformat()}"
        return problems
