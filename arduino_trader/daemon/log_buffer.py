"""The last log lines in memory, for ``GET /api/system/logs`` (the daemon logs to stdout).

A logging handler formats each record exactly as stdout gets it (JSON, secrets masked)
and keeps the newest ``capacity`` lines in a bounded ring; nothing is written to disk.
"""

from __future__ import annotations

import json
import logging
import threading
from collections import deque
from dataclasses import dataclass

DEFAULT_CAPACITY = 5000
LEVEL_ORDER = {"debug": 10, "info": 20, "warning": 30, "error": 40, "critical": 50}


@dataclass(frozen=True)
class LogLine:
    """One formatted line with its level and event name."""

    level: str
    event: str
    text: str


class LogRing:
    """A thread-safe bounded buffer of log lines, oldest dropped first."""

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        self._lines: deque[LogLine] = deque(maxlen=capacity)
        self._lock = threading.Lock()

    def append(self, line: LogLine) -> None:
        """Keep ``line`` (dropping the oldest when full)."""
        with self._lock:
            self._lines.append(line)

    def __len__(self) -> int:
        with self._lock:
            return len(self._lines)

    def clear(self) -> None:
        """Forget every line."""
        with self._lock:
            self._lines.clear()

    def tail(self, lines: int, *, min_level: str | None = None,
             search: str | None = None) -> list[LogLine]:
        """The newest ``lines`` lines at ``min_level`` or above containing ``search``
        (case-insensitive), oldest first."""
        floor = LEVEL_ORDER.get((min_level or "").lower(), 0)
        needle = (search or "").lower()
        with self._lock:
            snapshot = list(self._lines)
        picked: list[LogLine] = []
        for line in reversed(snapshot):
            if len(picked) >= lines:
                break
            if LEVEL_ORDER.get(line.level, 0) < floor:
                continue
            if needle and needle not in line.text.lower():
                continue
            picked.append(line)
        picked.reverse()
        return picked


BUFFER = LogRing()


class RingHandler(logging.Handler):
    """Formats records with the stdout formatter and appends them to a :class:`LogRing`."""

    def __init__(self, ring: LogRing) -> None:
        super().__init__(level=logging.DEBUG)
        self.ring = ring

    def emit(self, record: logging.LogRecord) -> None:
        """Store one formatted record; never raises into the caller."""
        try:
            text = self.format(record)
            level, event = record.levelname.lower(), ""
            try:
                parsed = json.loads(text)
            except ValueError:
                parsed = None
            if isinstance(parsed, dict):
                level = str(parsed.get("level", level)).lower()
                event = str(parsed.get("event", ""))
            self.ring.append(LogLine(level, event, text))
        except Exception:
            self.handleError(record)


def install(root: logging.Logger, formatter: logging.Formatter,
            ring: LogRing = BUFFER) -> RingHandler:
    """Attach a ring handler using ``formatter`` to ``root`` (replacing an earlier one)."""
    for old in [h for h in root.handlers if isinstance(h, RingHandler)]:
        root.removeHandler(old)
    handler = RingHandler(ring)
    handler.setFormatter(formatter)
    root.addHandler(handler)
    return handler
