"""Price validation, pure: which bars are accepted, which are
quarantined and why, which gaps exist.

A quarantined price is never stored as history and never used for a trade; the caller
logs and records it. Rules, per series oldest first:

* close missing, NaN or ≤ 0 → ``non_positive``;
* change vs the previous accepted close above +1000 % or below −90 % → ``jump``;
* a move matching a share split ratio (2, 3, 4, 5, 10 or their inverses, ±2 %) → ``split``
  (adjusted series never show one: the source must be re-read adjusted);
* a re-read after a split is split-adjusted (every bar before the split day rescaled):
  :func:`split_rescale` says by which factor the stored series before the re-read must
  be divided to join it, when the stored/re-read difference is exactly what the splits
  the source reported explain; the caller rescales the store, the re-read is then
  validated in the adjusted context, and no fake step or "split" quarantine appears;
* close above 10× or below 0.1× the mean of up to 30 prior accepted closes → ``anomaly``;
* inconsistent OHLC (high below open/close/low, low above open/close) invalidates only
  high/low: they are dropped (set to None) and listed as repaired.

Absolute bounds without context (the reference's 0.01-10,000) are deliberately not
applied: they break high-priced and JPY/KRW/HKD quotes.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date

from arduino_trader.protocols.market_data import PriceBar
from arduino_trader.protocols.price_history import Quarantined, QuarantineReason, Rescale

MAX_RISE = 10.0       # +1000 %
MAX_FALL = -0.90      # −90 %
MEAN_WINDOW = 30
MEAN_FACTOR = 10.0
SPLIT_RATIOS = (2.0, 3.0, 4.0, 5.0, 10.0)
SPLIT_TOLERANCE = 0.02
DEFAULT_MAX_GAP_DAYS = 10


@dataclass(frozen=True)
class Gap:
    """Consecutive bars further apart than allowed (calendar days)."""

    after: date
    before: date
    days: int


@dataclass(frozen=True)
class ValidationReport:
    """The outcome of validating one series."""

    accepted: tuple[PriceBar, ...]
    quarantined: tuple[Quarantined, ...]
    repaired: tuple[date, ...]
    gaps: tuple[Gap, ...]

    @property
    def mostly_bad(self) -> bool:
        """More than half of the bars were quarantined or repaired (warn)."""
        total = len(self.accepted) + len(self.quarantined)
        return total > 0 and (len(self.quarantined) + len(self.repaired)) * 2 > total


def _finite_positive(value: float | None) -> bool:
    return value is not None and math.isfinite(value) and value > 0


def split_ratio(previous: float, current: float) -> float | None:
    """The split ratio a move from ``previous`` to ``current`` matches, else None.

    Ratios > 1 are forward splits (price divided), < 1 reverse splits.
    """
    if previous <= 0 or current <= 0:
        return None
    move = previous / current
    for ratio in SPLIT_RATIOS:
        for candidate in (ratio, 1.0 / ratio):
            if abs(move / candidate - 1.0) <= SPLIT_TOLERANCE:
                return candidate
    return None


def split_rescale(stored: Mapping[date, float], bars: Iterable[PriceBar],
                  splits: Iterable[tuple[date, float]]) -> Rescale | None:
    """``(factor, splits applied)`` when stored prices dated before the first applied
    split must be divided by ``factor`` to join a split-adjusted re-read; None when no
    rescale is due.

    On the first day both have a close, ``stored / re-read`` is compared with the
    product of the most recent reported splits after that day (the store has seen the
    older ones, or none): a match within ±2 % is the factor; a ratio of 1 or one the
    reported splits do not explain is None (ordinary validation judges it).
    """
    events = sorted((d, r) for d, r in splits if _finite_positive(r) and r != 1.0)
    if not events:
        return None
    for bar in sorted(bars, key=lambda b: b.day):
        old = stored.get(bar.day)
        if old is None or not _finite_positive(old) or not _finite_positive(bar.close):
            continue
        measured = old / bar.close
        later = [(d, r) for d, r in events if d > bar.day]
        for k in range(1, len(later) + 1):
            factor = math.prod(r for _, r in later[-k:])
            if abs(measured / factor - 1.0) <= SPLIT_TOLERANCE:
                return factor, tuple(later[-k:])
        return None
    return None


def check_price(price: float | None, previous: float | None,
                recent: Sequence[float]) -> tuple[QuarantineReason, str] | None:
    """Why ``price`` must be refused given the previous accepted close and up to 30
    recent accepted closes (oldest first), or None when it is acceptable."""
    if not _finite_positive(price):
        return "non_positive", f"price {price!r} is not a positive number"
    assert price is not None
    if previous is not None and previous > 0:
        change = price / previous - 1.0
        if change > MAX_RISE or change < MAX_FALL:
            return "jump", f"change {change:+.1%} vs previous close {previous:g}"
        ratio = split_ratio(previous, price)
        if ratio is not None:
            return "split", f"move {previous:g} → {price:g} matches a split ratio {ratio:g}"
    window = [c for c in recent[-MEAN_WINDOW:] if c > 0]
    if window:
        mean = sum(window) / len(window)
        if price > mean * MEAN_FACTOR or price < mean / MEAN_FACTOR:
            return "anomaly", f"price {price:g} vs mean {mean:g} of {len(window)} closes"
    return None


def _consistent(bar: PriceBar) -> bool:
    high, low = bar.high, bar.low
    if high is None and low is None:
        return True
    values = [v for v in (bar.open, bar.close) if v is not None]
    if high is not None and (not math.isfinite(high) or any(high < v for v in values)):
        return False
    if low is not None and (not math.isfinite(low) or low <= 0 or any(low > v for v in values)):
        return False
    return not (high is not None and low is not None and high < low)


def validate_series(bars: Iterable[PriceBar], *, previous: Sequence[float] = (),
                    max_gap_days: int = DEFAULT_MAX_GAP_DAYS) -> ValidationReport:
    """Validate bars oldest first; ``previous`` are accepted closes before the first bar
    (e.g. the stored history) so a top-up is judged in context."""
    recent: deque[float] = deque((c for c in previous if c > 0), maxlen=MEAN_WINDOW)
    accepted: list[PriceBar] = []
    quarantined: list[Quarantined] = []
    repaired: list[date] = []
    gaps: list[Gap] = []
    last_day: date | None = None
    for bar in sorted(bars, key=lambda b: b.day):
        if last_day is not None and bar.day == last_day:
            continue  # duplicate day: the first one wins
        prev_close = recent[-1] if recent else None
        verdict = check_price(bar.close, prev_close, list(recent))
        if verdict is not None:
            close = bar.close if bar.close is not None and math.isfinite(bar.close) else None
            quarantined.append(Quarantined(bar.day, close, verdict[0], verdict[1]))
            continue
        if not _consistent(bar):
            bar = replace(bar, high=None, low=None)
            repaired.append(bar.day)
        if last_day is not None and (bar.day - last_day).days > max_gap_days:
            gaps.append(Gap(last_day, bar.day, (bar.day - last_day).days))
        accepted.append(bar)
        recent.append(bar.close)
        last_day = bar.day
    return ValidationReport(tuple(accepted), tuple(quarantined), tuple(repaired), tuple(gaps))
