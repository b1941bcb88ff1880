"""Per-command call statistics of the Tradernet client (read by GET /metrics)."""

from __future__ import annotations

import threading
from collections import defaultdict
from dataclasses import dataclass


@dataclass(frozen=True)
class CommandStats:
    """Totals of one command since the daemon started."""

    calls: int
    errors: dict[str, int]
    latency_sum_s: float
    last_latency_s: float


class CallStats:
    """Counts calls, errors by kind and latency per command (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls: dict[str, int] = defaultdict(int)
        self._errors: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        self._latency: dict[str, float] = defaultdict(float)
        self._last: dict[str, float] = {}

    def record(self, command: str, seconds: float, error: str | None = None) -> None:
        """One finished call; ``error`` is the error kind when it failed."""
        with self._lock:
            self._calls[command] += 1
            self._latency[command] += seconds
            self._last[command] = seconds
            if error is not None:
                self._errors[command][error] += 1

    def snapshot(self) -> dict[str, CommandStats]:
        """A copy of every command's totals."""
        with self._lock:
            return {c: CommandStats(n, dict(self._errors.get(c, {})), self._latency[c],
                                    self._last.get(c, 0.0)) for c, n in self._calls.items()}
