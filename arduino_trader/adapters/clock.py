"""Clock adapters: wall time for the daemon, a manual clock for tests, a step clock for
backtests."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta


class SystemClock:
    """Wall time in UTC."""

    def now(self) -> datetime:
        """The current UTC time."""
        return datetime.now(UTC)

    def monotonic(self) -> float:
        """``time.monotonic()``."""
        return time.monotonic()


class ManualClock:
    """A clock that moves only when told to (thread-safe)."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("ManualClock needs a tz-aware start time")
        self._now = start.astimezone(UTC)
        self._mono = 0.0
        self._lock = threading.Lock()

    def now(self) -> datetime:
        """The simulated time."""
        with self._lock:
            return self._now

    def monotonic(self) -> float:
        """Simulated seconds since the start."""
        with self._lock:
            return self._mono

    def advance(self, delta: timedelta | float) -> datetime:
        """Move forward by ``delta`` (seconds or a timedelta); returns the new time."""
        seconds = delta.total_seconds() if isinstance(delta, timedelta) else float(delta)
        if seconds < 0:
            raise ValueError("a clock never goes backwards")
        with self._lock:
            self._now += timedelta(seconds=seconds)
            self._mono += seconds
            return self._now


class StepClock:
    """The simulated clock of backtests: time stands still while the actors work and
    jumps to the next moment the driver sets (as fast as they finish).

    ``now()`` is the moment set last; ``monotonic()`` keeps counting real seconds on top of
    the simulated ones, so timeouts and durations measured inside a step still advance.
    """

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("StepClock needs a tz-aware start time")
        self._now = start.astimezone(UTC)
        self._sim_seconds = 0.0
        self._origin = time.monotonic()
        self._lock = threading.Lock()

    def now(self) -> datetime:
        """The simulated moment."""
        with self._lock:
            return self._now

    def monotonic(self) -> float:
        """Simulated seconds since the start plus real seconds elapsed."""
        with self._lock:
            return self._sim_seconds + (time.monotonic() - self._origin)

    def set(self, moment: datetime) -> datetime:
        """Jump to ``moment`` (tz-aware, never earlier than now); returns it in UTC."""
        if moment.tzinfo is None:
            raise ValueError("StepClock needs tz-aware moments")
        target = moment.astimezone(UTC)
        with self._lock:
            if target < self._now:
                raise ValueError(f"a clock never goes backwards ({target} < {self._now})")
            self._sim_seconds += (target - self._now).total_seconds()
            self._now = target
            return target
