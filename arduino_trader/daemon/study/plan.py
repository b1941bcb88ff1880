"""What a study searches (pure): the settings keys and their values or ranges, checked
against the settings schema, and the walk-forward windows.

A grid lists values per key (``KEY=V1,V2``); a search gives a numeric range per key
(``KEY=LO:HI``) for the Optuna sampler. Trials are numbered: grid trial ``n`` is the
``n``-th combination in the order the keys were given.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from arduino_trader.config.schema import spec_for
from arduino_trader.config.spec import SettingError

# Keys the backtest sets itself (replay data, paper broker, research mode): a study
# cannot vary them.
FIXED_KEYS = frozenset({"market_data.source", "broker.kind", "trading_mode",
                        "market_data.replay_prices_file", "broker.paper_initial_cash_eur",
                        "planner_debounce_seconds"})
# A window needs this many trading days: the first books the initial cash and syncs the
# account, plans and orders follow on the next days, and a Sharpe ratio needs returns.
MIN_WINDOW_DAYS = 5


class StudyError(ValueError):
    """Bad study input, reported before any work starts."""


@dataclass(frozen=True)
class Window:
    """A backtest period, both ends included."""

    start: date
    end: date

    @property
    def label(self) -> str:
        """``START:END`` as given on the command line."""
        return f"{self.start.isoformat()}:{self.end.isoformat()}"


@dataclass(frozen=True)
class Range:
    """A numeric range of one key for the sampler."""

    low: float
    high: float
    integer: bool


@dataclass(frozen=True)
class StudyPlan:
    """The checked study: a grid (``grid``) or a sampler search (``ranges``, ``trials``)."""

    train: tuple[Window, ...]
    oos: Window
    grid: tuple[tuple[str, tuple[Any, ...]], ...] = ()
    ranges: tuple[tuple[str, Range], ...] = ()
    trials: int = 0
    seed: int = 0
    top: int = 1

    @property
    def keys(self) -> list[str]:
        """The searched settings keys, in the order given."""
        return [k for k, _ in self.grid] or [k for k, _ in self.ranges]

    @property
    def total_trials(self) -> int:
        """How many trials the study runs."""
        if self.grid:
            count = 1
            for _, values in self.grid:
                count *= len(values)
            return count
        return self.trials

    def grid_trials(self) -> list[dict[str, Any]]:
        """Every grid combination, trial number = list index."""
        keys = [k for k, _ in self.grid]
        return [dict(zip(keys, combo, strict=True))
                for combo in itertools.product(*(v for _, v in self.grid))]


def _key(key: str) -> None:
    try:
        spec = spec_for(key)
    except SettingError as exc:
        raise StudyError(str(exc)) from None
    if key in FIXED_KEYS:
        raise StudyError(f"{key}: set by the backtest itself; a study cannot vary it")
    if spec.secret:
        raise StudyError(f"{key}: a secret; a study cannot vary it")


def parse_grid(items: Sequence[str]) -> tuple[tuple[str, tuple[Any, ...]], ...]:
    """``KEY=V1,V2`` items, each value coerced and range-checked by the schema."""
    out: dict[str, tuple[Any, ...]] = {}
    for item in items:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not text.strip():
            raise StudyError(f"--grid {item!r}: expected KEY=V1,V2,...")
        _key(key)
        if key in out:
            raise StudyError(f"--grid {key}: given twice")
        values: list[Any] = []
        for raw in text.split(","):
            try:
                value = spec_for(key).coerce(raw.strip(), from_text=True)
            except SettingError as exc:
                raise StudyError(f"--grid {exc}") from None
            if value in values:
                raise StudyError(f"--grid {key}: value {raw.strip()} given twice")
            values.append(value)
        out[key] = tuple(values)
    return tuple(out.items())


def parse_ranges(items: Sequence[str]) -> tuple[tuple[str, Range], ...]:
    """``KEY=LO:HI`` items over int, float or decimal keys; both ends checked by the
    schema."""
    out: dict[str, Range] = {}
    for item in items:
        key, sep, text = item.partition("=")
        key = key.strip()
        lo_text, colon, hi_text = text.partition(":")
        if not sep or not colon or not lo_text.strip() or not hi_text.strip():
            raise StudyError(f"--search {item!r}: expected KEY=LOW:HIGH")
        _key(key)
        spec = spec_for(key)
        if spec.type not in ("int", "float", "decimal") or spec.choices is not None:
            raise StudyError(f"--search {key}: a {spec.type} setting has no numeric range; "
                             "use --grid")
        if key in out:
            raise StudyError(f"--search {key}: given twice")
        try:
            low, high = (spec.coerce(t.strip(), from_text=True) for t in (lo_text, hi_text))
        except SettingError as exc:
            raise StudyError(f"--search {exc}") from None
        if not low < high:
            raise StudyError(f"--search {key}: LOW {low} must be below HIGH {high}")
        out[key] = Range(float(low), float(high), spec.type == "int")
    return tuple(out.items())


def parse_window(text: str, flag: str) -> Window:
    """``START:END`` (ISO dates) with START before END."""
    start_text, sep, end_text = text.partition(":")
    try:
        window = Window(date.fromisoformat(start_text), date.fromisoformat(end_text))
    except ValueError:
        raise StudyError(f"{flag} {text!r}: expected YYYY-MM-DD:YYYY-MM-DD") from None
    if not sep or window.end <= window.start:
        raise StudyError(f"{flag} {text}: the end must be after the start")
    return window


def build_plan(*, windows: Sequence[str], oos: str, grid: Sequence[str] = (),
               search: Sequence[str] = (), trials: int = 0, seed: int = 0,
               top: int = 1) -> StudyPlan:
    """The checked plan, or :class:`StudyError` naming what is wrong."""
    if grid and search:
        raise StudyError("give either --grid or --search, not both")
    if not grid and not search:
        raise StudyError("nothing to search: give --grid KEY=V1,V2 or --search KEY=LOW:HIGH")
    if not windows:
        raise StudyError("no training window: give --window START:END")
    train = tuple(parse_window(w, "--window") for w in windows)
    test = parse_window(oos, "--oos")
    for before, after in itertools.pairwise((*train, test)):
        if after.start <= before.end:
            raise StudyError(f"windows must follow each other: {after.label} starts before "
                             f"{before.label} ends (the out-of-sample window comes last)")
    if top < 1:
        raise StudyError("--top must be at least 1")
    if grid:
        plan = StudyPlan(train, test, grid=parse_grid(grid), seed=seed, top=top)
    else:
        if trials < 1:
            raise StudyError("--trials must be at least 1 with --search")
        plan = StudyPlan(train, test, ranges=parse_ranges(search), trials=trials, seed=seed,
                         top=top)
    if plan.total_trials < 1:
        raise StudyError("the grid is empty")
    return plan


def settings_json(settings: Mapping[str, Any]) -> str:
    """One trial's settings as canonical JSON (the key of a trial in the results)."""
    return json.dumps({k: (str(v) if not isinstance(v, bool | int | float) else v)
                       for k, v in settings.items()}, sort_keys=True)
