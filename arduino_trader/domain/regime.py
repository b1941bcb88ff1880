"""Market regime: the continuous score and every place it acts.

The score s ∈ [−1, 1] comes from a composite of index series (oldest first — the
reference's sign bug of differencing newest-first data is avoided by construction).
Labels: bull above the bull cut (0.3 by default), bear below the bear cut (−0.3), else
sideways; the cuts are settings. Effects: the end-state component weights, the cash
reserve and the expected-returns blend.

Components (each clamped to ±1) of the composite's daily returns over ``window`` days:
return 600·mean; volatility −15·(σ − 0.02); drawdown −5.8·(depth + 0.05) with depth the
largest peak-to-trough fall as a positive fraction (a penalty only: −0.29 with no fall,
−1 from a 12 % fall on, which balances the calm-market volatility bonus so that a flat
market scores ≈ 0). The day's score is an EMA (α = 0.1) over the previous
day's score, so one bad day moves it a tenth of the way.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

Label = Literal["bull", "sideways", "bear"]

INDEX_WEIGHTS: Mapping[str, float] = {"SPX.US": 0.20, "STOXX600.EU": 0.50,
                                      "MSCIASIA.ASIA": 0.30}
WINDOW = 30
BULL_CUT = 0.3
BEAR_CUT = -0.3
SMOOTHING = 0.1  # weight of today's raw score in the EMA


@dataclass(frozen=True)
class RegimeCuts:
    """Where the continuous score turns into a label: bull above ``bull``, bear below
    ``bear`` (bear < 0 < bull)."""

    bull: float = BULL_CUT
    bear: float = BEAR_CUT


DEFAULT_CUTS = RegimeCuts()


def _clamp1(x: float) -> float:
    return max(-1.0, min(1.0, x))


@dataclass(frozen=True)
class RegimeScore:
    """The smoothed score, its label and the raw parts it came from."""

    score: float
    raw: float
    label: Label
    ret_component: float
    vol_component: float
    dd_component: float
    bear_override: bool
    indices_used: tuple[str, ...]


def label_for(score: float, cuts: RegimeCuts = DEFAULT_CUTS) -> Label:
    """bull above ``cuts.bull``, bear below ``cuts.bear``, else sideways."""
    return "bull" if score > cuts.bull else "bear" if score < cuts.bear else "sideways"


def smooth(raw: float, previous: float | None) -> float:
    """Today's score: the EMA of ``raw`` over the previous day's score (``raw`` if none)."""
    return raw if previous is None else SMOOTHING * raw + (1 - SMOOTHING) * previous


def regime_score(series: Mapping[str, npt.NDArray[np.float64]],
                 previous: float | None = None,
                 weights: Mapping[str, float] = INDEX_WEIGHTS,
                 window: int = WINDOW, cuts: RegimeCuts = DEFAULT_CUTS) -> RegimeScore:
    """Continuous regime score from index closes (oldest first), smoothed over
    ``previous`` (the last day's score); no usable data → ``previous`` (else 0)."""
    rets: list[npt.NDArray[np.float64]] = []
    ws: list[float] = []
    used: list[str] = []
    for name, w in weights.items():
        p = np.asarray(series.get(name, np.empty(0)), dtype=np.float64)
        p = p[np.isfinite(p) & (p > 0)]
        if p.size < window + 1 or w <= 0:
            continue
        tail = p[-(window + 1):]
        rets.append(tail[1:] / tail[:-1] - 1)
        ws.append(w)
        used.append(name)
    if not rets:
        kept = previous or 0.0
        return RegimeScore(kept, 0.0, label_for(kept, cuts), 0, 0, 0, False, ())
    wv = np.array(ws) / sum(ws)
    composite = (np.vstack(rets) * wv[:, None]).sum(axis=0)
    mean = float(composite.mean())
    sigma = float(composite.std(ddof=1))
    path = np.cumprod(1 + composite)
    path = np.concatenate([[1.0], path])
    max_dd = float(np.min(path / np.maximum.accumulate(path) - 1))  # ≤ 0
    ret_c = _clamp1(600 * mean)
    vol_c = _clamp1(-15 * (sigma - 0.02))
    dd_c = _clamp1(-5.8 * (-max_dd + 0.05))  # depth = −max_dd: deeper is bearish
    raw = math.tanh(2 * (0.5 * ret_c + 0.25 * vol_c + 0.25 * dd_c))
    override = False
    if raw > -0.15:
        candidates = []
        if mean < -0.0005:
            candidates.append(math.tanh(2 * ret_c))
        if sigma > 0.03:
            candidates.append(math.tanh(2 * (0.05 * ret_c + 0.95 * vol_c)))
        if max_dd < -0.12:
            candidates.append(math.tanh(2 * (0.05 * ret_c + 0.95 * dd_c)))
        if candidates:
            raw = min(candidates)
            override = True
    score = smooth(raw, previous)
    return RegimeScore(score, raw, label_for(score, cuts), ret_c, vol_c, dd_c, override,
                       tuple(used))


def component_weights(score: float, cuts: RegimeCuts = DEFAULT_CUTS
                      ) -> npt.NDArray[np.float64]:
    """End-state component weights [opportunity, quality, diversification, risk, regime]
    adapted to the regime score beyond the cuts (full effect at ±1), summing to 1."""
    w = np.array([0.30, 0.25, 0.20, 0.15, 0.10])
    if score > cuts.bull:
        f = min(1.0, (score - cuts.bull) / (1 - cuts.bull))
        w += np.array([0.05, 0.0, -0.02, -0.03, 0.02]) * f
    elif score < cuts.bear:
        f = min(1.0, (cuts.bear - score) / (1 + cuts.bear))
        w += np.array([-0.10, -0.02, 0.05, 0.10, -0.03]) * f
    w = np.maximum(w, 0.0)
    return w / w.sum()


def cash_reserve(score: float, portfolio_value: float, min_cash_reserve: float,
                 shares: Mapping[Label, float] | None = None, enabled: bool = True,
                 cuts: RegimeCuts = DEFAULT_CUTS) -> float:
    """max(min_cash_reserve, share(label) × portfolio); detection off → the fixed minimum."""
    if not enabled:
        return min_cash_reserve
    table = shares or {"bull": 0.02, "sideways": 0.03, "bear": 0.05}
    return max(min_cash_reserve, table[label_for(score, cuts)] * max(0.0, portfolio_value))


def expected_return_weights(score: float, cuts: RegimeCuts = DEFAULT_CUTS
                            ) -> tuple[float, float, float]:
    """(CAGR weight, score weight, multiplier) of the optimiser's expected-returns blend."""
    label = label_for(score, cuts)
    if label == "bull":
        return 0.80, 0.20, 1.0
    if label == "bear":
        return 0.70, 0.30, 0.75
    return 0.70, 0.30, 1.0


def regime_sign(score: float, cuts: RegimeCuts = DEFAULT_CUTS) -> int:
    """+1 bull, −1 bear, 0 sideways (the evaluation kernel's regime flag)."""
    label = label_for(score, cuts)
    return 1 if label == "bull" else -1 if label == "bear" else 0


FORWARD_CAP = 0.20


def forward_adjustment(vix: float | None = None, yield_curve_slope: float | None = None,
                       market_pe: float | None = None) -> float:
    """Forward adjustment of expected returns (unknown inputs add nothing), capped ±0.20.

    VIX ≥ 30 → −0.10·min(1, (VIX−30)/20); VIX ≤ 15 → +0.05·(1 − VIX/15). Yield-curve slope
    (fraction) ≤ −0.01 → −0.15·min(1, |s|/0.02); ≥ 0.01 → +0.045·min(1, (s−0.01)/0.02).
    Market P/E ≥ 26 → −0.10·min(1, (PE−26)/13); ≤ 18 → +0.05·min(1, 1 − (PE−18)/4) (capped:
    the reference system's factor exceeded 1 below 18).
    """
    total = 0.0
    if vix is not None and math.isfinite(vix) and vix >= 0:
        if vix >= 30:
            total -= 0.10 * min(1.0, (vix - 30) / 20)
        elif vix <= 15:
            total += 0.05 * (1 - vix / 15)
    if yield_curve_slope is not None and math.isfinite(yield_curve_slope):
        s = yield_curve_slope
        if s <= -0.01:
            total -= 0.15 * min(1.0, abs(s) / 0.02)
        elif s >= 0.01:
            total += 0.045 * min(1.0, (s - 0.01) / 0.02)
    if market_pe is not None and math.isfinite(market_pe) and market_pe > 0:
        if market_pe >= 26:
            total -= 0.10 * min(1.0, (market_pe - 26) / 13)
        elif market_pe <= 18:
            total += 0.05 * min(1.0, 1 - (market_pe - 18) / 4)
    return max(-FORWARD_CAP, min(FORWARD_CAP, total))


def yield_curve_slope(long_rate_pct: float | None, short_rate_pct: float | None) -> float | None:
    """Slope as a fraction from two yields quoted in percent (e.g. ^TNX 4.2, ^IRX 5.1 →
    −0.009); ``None`` when either is unknown."""
    if long_rate_pct is None or short_rate_pct is None:
        return None
    if not (math.isfinite(long_rate_pct) and math.isfinite(short_rate_pct)):
        return None
    return (long_rate_pct - short_rate_pct) / 100.0
