"""Quality gates for optimiser-driven buys: such a buy must pass the quality gate and be
neither a value trap nor a bubble risk.

The reference system names the gates without defining them; this module is the project's
definition, from the metrics and scores a planning run already has:

* **quality gate**: quality = mean(long-term, fundamentals) ≥ ``min_quality``
  (``quality_gate_min_quality``, 0.4).
* **value trap**: the security *looks* cheap (opportunity group ≥ 0.7: far below its
  52-week high and/or a low P/E) while its quality is below 0.5 and the price is still
  falling (momentum < 0 and below its 200-day EMA) — cheap for a reason.
* **bubble risk**: the price is stretched ≥ 30 % above its 200-day EMA *and* the run-up
  is hot (RSI ≥ 70 or blended 30/90-day momentum ≥ 30 %); or the P/E is ≥ 2.5 × the
  market's with momentum ≥ 15 %.

Each gate returns ``None`` (pass) or the reason, so a refused buy can say why.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from ..scoring import kernels as k
from ..scoring.scorers import Fundamentals, SecurityScore

VALUE_TRAP_MIN_OPPORTUNITY = 0.7
VALUE_TRAP_MAX_QUALITY = 0.5
BUBBLE_MIN_STRETCH = 0.30
BUBBLE_MIN_RSI = 70.0
BUBBLE_MIN_MOMENTUM = 0.30
BUBBLE_PE_MULTIPLE = 2.5
BUBBLE_PE_MIN_MOMENTUM = 0.15


def _fin(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


def quality_gate(score: SecurityScore, min_quality: float) -> str | None:
    """Refuse when quality (mean of long-term and fundamentals) is below ``min_quality``."""
    q = score.quality
    if q < min_quality:
        return f"quality gate: quality {q:.2f} below {min_quality:.2f}"
    return None


def value_trap(score: SecurityScore, metrics: npt.NDArray[np.float64]) -> str | None:
    """Refuse a cheap-looking security of weak quality whose price is still falling."""
    opp = score.groups["opportunity"].score
    q = score.quality
    momentum = _fin(metrics[k.M_MOMENTUM])
    last, ema = _fin(metrics[k.M_LAST]), _fin(metrics[k.M_EMA_200])
    falling = momentum is not None and momentum < 0 and last is not None \
        and ema is not None and ema > 0 and last < ema
    if opp >= VALUE_TRAP_MIN_OPPORTUNITY and q < VALUE_TRAP_MAX_QUALITY and falling:
        return (f"value trap: looks cheap (opportunity {opp:.2f}) but quality {q:.2f} and "
                f"momentum {momentum:+.0%} below the 200-day EMA")
    return None


def bubble_risk(metrics: npt.NDArray[np.float64], fundamentals: Fundamentals | None,
                market_pe: float) -> str | None:
    """Refuse a price stretched far above its trend on a hot run-up, or an extreme P/E
    still running up."""
    last, ema = _fin(metrics[k.M_LAST]), _fin(metrics[k.M_EMA_200])
    rsi, momentum = _fin(metrics[k.M_RSI]), _fin(metrics[k.M_MOMENTUM])
    if last is not None and ema is not None and ema > 0:
        stretch = last / ema - 1
        hot = (rsi is not None and rsi >= BUBBLE_MIN_RSI) or \
            (momentum is not None and momentum >= BUBBLE_MIN_MOMENTUM)
        if stretch >= BUBBLE_MIN_STRETCH and hot:
            return (f"bubble risk: {stretch:.0%} above the 200-day EMA after a hot run "
                    f"(RSI {rsi if rsi is not None else float('nan'):.0f}, momentum "
                    f"{momentum if momentum is not None else float('nan'):+.0%})")
    pe = _fin(fundamentals.trailing_pe) if fundamentals is not None else None
    if pe is not None and market_pe > 0 and pe >= BUBBLE_PE_MULTIPLE * market_pe \
            and momentum is not None and momentum >= BUBBLE_PE_MIN_MOMENTUM:
        return (f"bubble risk: P/E {pe:.0f} is {pe / market_pe:.1f}× the market's with "
                f"momentum {momentum:+.0%}")
    return None


def optimiser_buy_gate(score: SecurityScore | None, metrics: npt.NDArray[np.float64],
                       fundamentals: Fundamentals | None, *, min_quality: float,
                       market_pe: float) -> str | None:
    """The first failing gate's reason (quality, value trap, bubble risk), else ``None``."""
    if score is None:
        return "quality gate: not scored"
    return quality_gate(score, min_quality) or value_trap(score, metrics) \
        or bubble_risk(metrics, fundamentals, market_pe)
