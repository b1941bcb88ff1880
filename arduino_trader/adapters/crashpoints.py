"""Test-only crash points: SIGKILL the process at a chosen durable step.

Off unless the environment arms it when this module is first imported:

- ``TRADER_CRASH_AT="<kind>:<n>"`` kills the process (``SIGKILL``, no clean-up) at the
  n-th step of that kind: ``commit`` (after the n-th committed store write transaction),
  ``broker_before`` / ``broker_after`` (before the n-th broker HTTP request is sent /
  after its answer arrived, before it is read). ``"<kind>@<detail>:<n>"`` counts only
  the steps with that detail: the broker command (``broker_before@putTradeOrder:1``) or
  the function that committed (``commit@order_journal.journal_order:1``).
- ``TRADER_CRASH_LOG=<path>`` appends one line per step (``<kind> <n> <detail>``),
  written before a kill, so a harness can count the points of a run and see where a
  crashed run died.

(Not ``ARDUINO_TRADER_*``: that prefix is reserved for settings.) Disarmed, :func:`hit`
is an empty function; the store and the Tradernet client call it once per step.
"""

from __future__ import annotations

import inspect
import os
import signal
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

CRASH_AT_ENV = "TRADER_CRASH_AT"
CRASH_LOG_ENV = "TRADER_CRASH_LOG"
KINDS = ("commit", "broker_before", "broker_after")


@dataclass(frozen=True)
class Target:
    """Where to die: the ``n``-th step of ``kind`` (1-based), counting only the steps
    whose detail is ``detail`` when one is given."""

    kind: str
    n: int
    detail: str | None = None


def parse_target(text: str) -> Target:
    """``"commit:17"`` → the 17th commit; ``"broker_before@putTradeOrder:1"`` → before
    the first order placement; ValueError for anything else."""
    head, sep, number = text.strip().rpartition(":")
    kind, at, detail = head.partition("@")
    if not sep or kind not in KINDS or not number.isdigit() or int(number) < 1 or \
            (at and not detail):
        raise ValueError(f"crash point {text!r}: expected <kind>[@<detail>]:<n> with kind "
                         f"in {KINDS} and n >= 1")
    return Target(kind, int(number), detail or None)


def _caller() -> str:
    """``module.function`` of the first frame outside the store and contextlib: who
    committed (only computed while armed)."""
    frame = inspect.currentframe()  # this module's own frames are skipped below
    for _ in range(14):
        if frame is None:
            break
        name, func = frame.f_code.co_filename, frame.f_code.co_name
        skip = name.endswith(("contextlib.py", "crashpoints.py")) or \
            (name.endswith("sqlite.py") and func == "transaction")
        if not skip:
            return f"{os.path.splitext(os.path.basename(name))[0]}.{func}"
        frame = frame.f_back
    return "?"


@dataclass
class Recorder:
    """Counts steps per kind, logs them, and kills the process at the target."""

    target: Target | None = None
    log_path: str | None = None
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    detail_counts: dict[tuple[str, str], int] = field(default_factory=dict)
    kill: bool = True
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def step(self, kind: str, detail: str = "") -> None:
        """One step of ``kind`` happened (or is about to)."""
        if kind == "commit" and not detail:
            detail = _caller()
        with self._lock:
            self.counts[kind] += 1
            n = self.counts[kind]
            nd = self.detail_counts[(kind, detail)] = \
                self.detail_counts.get((kind, detail), 0) + 1
            if self.log_path is not None:
                _append(self.log_path, f"{kind} {n} {detail}".rstrip() + "\n")
            target = self.target
            if target is None or target.kind != kind or not self.kill:
                return
            if (target.n == n and target.detail is None) or \
                    (target.n == nd and target.detail == detail):
                os.kill(os.getpid(), signal.SIGKILL)


def _append(path: str, line: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)


def _off(kind: str, detail: str = "") -> None:
    """Disarmed: nothing to do."""


_recorder: Recorder | None = None
# A durable step of ``kind`` (see KINDS): ``hit(kind, detail)``; rebound by arm().
hit: Callable[[str, str], None] = _off


def arm(recorder: Recorder | None) -> None:
    """Install ``recorder`` (None disarms); used at import from the environment, and by
    tests in-process (with ``kill=False``)."""
    global _recorder, hit
    _recorder = recorder
    hit = _off if recorder is None else recorder.step


def recorder_from_env(environ: Mapping[str, str]) -> Recorder | None:
    """The recorder the environment asks for, or None."""
    at = environ.get(CRASH_AT_ENV, "").strip()
    log_path = environ.get(CRASH_LOG_ENV, "").strip() or None
    if not at and log_path is None:
        return None
    return Recorder(parse_target(at) if at else None, log_path)


def current() -> Recorder | None:
    """The armed recorder (None when off)."""
    return _recorder


def read_log(path: str) -> dict[str, int]:
    """Steps per kind recorded in a crash log (missing file: all zero)."""
    counts = dict.fromkeys(KINDS, 0)
    try:
        with open(path, encoding="utf-8") as handle:
            for line in handle:
                kind, _, rest = line.partition(" ")
                if kind in counts:
                    counts[kind] = max(counts[kind], int(rest.split(" ", 1)[0]))
    except FileNotFoundError:
        pass
    return counts


arm(recorder_from_env(os.environ))
