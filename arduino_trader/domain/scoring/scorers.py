"""Security scoring: every group, with its components.

Every scorer takes plain floats (``None`` or NaN = missing) and returns a value in [0, 1].
Missing data scores neutral (0.5) unless a scorer states another explicit value. Fixes to
the reference system's scorers: the momentum discontinuity at −10 % is removed, the
diversification terms reward *underweight* groups (target − current), and dividend growth
uses the current / 5-year-average yield ratio instead of a saturating percent value.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

NEUTRAL = 0.5

GROUP_WEIGHTS: Mapping[str, float] = {
    "long_term": 0.20, "fundamentals": 0.15, "opportunity": 0.15, "dividends": 0.12,
    "short_term": 0.10, "technicals": 0.10, "opinion": 0.10, "diversification": 0.08,
}
QUALITY_TILT_WEIGHTS: Mapping[str, float] = {
    "long_term": 0.25, "fundamentals": 0.20, "opportunity": 0.18, "dividends": 0.12,
    "short_term": 0.08, "technicals": 0.07, "opinion": 0.05, "diversification": 0.05,
}
CONSENSUS_TO_SCORE: Mapping[str, float] = {
    "strong_buy": 1.0, "buy": 0.75, "hold": 0.5, "sell": 0.25, "strong_sell": 0.0,
}


def missing(x: float | None) -> bool:
    """True for ``None`` and NaN."""
    return x is None or (isinstance(x, float) and math.isnan(x))


def clamp(x: float, lo: float = 0.0, hi: float = 1.0) -> float:
    """``x`` limited to ``[lo, hi]``."""
    return lo if x < lo else hi if x > hi else x


# --- long term ---------------------------------------------------------------------------

def cagr_score(c: float | None, target: float = 0.11) -> float:
    """Bell curve around the target return; ≤ 0 or missing → 0.15."""
    if c is None or missing(c) or c <= 0:
        return 0.15
    sigma = 0.06 if c < target else 0.10
    return 0.15 + 0.85 * math.exp(-((c - target) ** 2) / (2 * sigma * sigma))


def sortino_score(x: float | None) -> float:
    """Piecewise Sortino score; missing → neutral."""
    if x is None or missing(x):
        return NEUTRAL
    if x >= 2:
        return 1.0
    if x >= 1.5:
        return 0.8 + 0.4 * (x - 1.5)
    if x >= 1:
        return 0.6 + 0.4 * (x - 1)
    if x >= 0.5:
        return 0.4 + 0.4 * (x - 0.5)
    if x >= 0:
        return 0.8 * x
    return 0.0


def sharpe_score(x: float | None) -> float:
    """Piecewise Sharpe score; missing → neutral."""
    if x is None or missing(x):
        return NEUTRAL
    if x >= 2:
        return 1.0
    if x >= 1:
        return 0.7 + 0.3 * (x - 1)
    if x >= 0.5:
        return 0.4 + 0.6 * (x - 0.5)
    if x >= 0:
        return 0.8 * x
    return 0.0


# --- fundamentals ------------------------------------------------------------------------

def financial_strength_score(margin: float | None, debt_to_equity: float | None,
                             current_ratio: float | None) -> float:
    """0.4·margin + 0.3·debt + 0.3·liquidity; no data at all → neutral."""
    if missing(margin) and missing(debt_to_equity) and missing(current_ratio):
        return NEUTRAL
    m = 0.0 if margin is None or missing(margin) else margin
    ms = min(1.0, 0.5 + 2.5 * m) if m >= 0 else max(0.0, 0.5 + 2 * m)
    d = 50.0 if debt_to_equity is None or missing(debt_to_equity) else max(0.0, debt_to_equity)
    de = 1 - min(d, 200.0) / 200.0
    q = 1.0 if current_ratio is None or missing(current_ratio) else max(0.0, current_ratio)
    cr = min(1.0, min(q, 3.0) / 2.0)
    return 0.4 * ms + 0.3 * de + 0.3 * cr


def consistency_score(cagr5: float | None, cagr10: float | None) -> float:
    """Agreement of the 5- and 10-year CAGR; no 10-year figure → 0.6."""
    if cagr10 is None or missing(cagr10) or cagr5 is None or missing(cagr5):
        return 0.6
    delta = abs(cagr5 - cagr10)
    if delta < 0.02:
        return 1.0
    if delta < 0.05:
        return 0.8
    return max(0.4, 1 - 4 * delta)


# --- opportunity -------------------------------------------------------------------------

def below_high_score(below: float | None) -> float:
    """Score of p = (H − P)/H, the distance below the 52-week high."""
    if below is None or missing(below):
        return NEUTRAL
    p = below
    if p <= 0:
        return 0.2
    if p < 0.10:
        return 0.2 + 3 * p
    if p < 0.20:
        return 0.5 + 3 * (p - 0.1)
    if p < 0.30:
        return 0.8 + 2 * (p - 0.2)
    return 1.0


def pe_score(trailing: float | None, forward: float | None, market_pe: float = 22.0) -> float:
    """Valuation versus the market P/E; missing or ≤ 0 trailing → 0.3."""
    if trailing is None or missing(trailing) or trailing <= 0:
        return 0.3
    eff = (trailing + forward) / 2 if forward is not None and not missing(forward) \
        and forward > 0 else trailing
    d = eff / market_pe - 1
    if d >= 0.2:
        return 0.2
    if d >= 0:
        return 0.5 - 1.5 * d
    if d >= -0.1:
        return 0.5 + 2 * abs(d)
    if d >= -0.2:
        return 0.7 + 3 * (abs(d) - 0.1)
    return 1.0


# --- dividends ---------------------------------------------------------------------------

def dividend_yield_score(y: float | None) -> float:
    """Score of the dividend yield (a fraction); missing or ≤ 0 → 0.3."""
    if y is None or missing(y) or y <= 0:
        return 0.3
    if y >= 0.06:
        return 1.0
    if y >= 0.03:
        return 0.7 + 10 * (y - 0.03)
    if y >= 0.01:
        return 0.4 + 15 * (y - 0.01)
    return 0.3 + 10 * y


def payout_score(q: float | None) -> float:
    """Payout-ratio sustainability; missing → neutral."""
    if q is None or missing(q):
        return NEUTRAL
    if q < 0:  # paying out of losses
        return 0.4
    if 0.3 <= q <= 0.6:
        return 1.0
    if q < 0.3:
        return min(1.0, 0.5 + q / 0.6)
    if q <= 0.8:
        return 1 - 1.5 * (q - 0.6)
    return 0.4


def dividend_growth_score(current_yield: float | None, five_year_avg_yield: float | None) -> float:
    """Proposed fix: ratio current / 5-year average yield (≥ 1 → 1, 0.8 → 0.5, ≤ 0.5 → 0.2)."""
    if (current_yield is None or five_year_avg_yield is None or missing(current_yield)
            or missing(five_year_avg_yield) or five_year_avg_yield <= 0):
        return NEUTRAL
    ratio = current_yield / five_year_avg_yield
    if ratio >= 1:
        return 1.0
    if ratio >= 0.8:
        return 0.5 + (ratio - 0.8) * 2.5
    if ratio > 0.5:
        return 0.2 + (ratio - 0.5)
    return 0.2


# --- short term --------------------------------------------------------------------------

def momentum_score(m: float | None) -> float:
    """Momentum score with the proposed continuous last rule ``max(0.2, 0.5 + 3(m + 0.1))``."""
    if m is None or missing(m):
        return NEUTRAL
    if 0.05 <= m <= 0.15:
        return 1.0
    if 0 <= m < 0.05:
        return 0.6 + 8 * m
    if 0.15 < m <= 0.30:
        return 0.8 + (0.30 - m) / 0.75
    if m > 0.30:
        return max(0.5, 0.8 - 2 * (m - 0.3))
    if m >= -0.1:
        return 0.5 + (m + 0.1)
    return max(0.2, 0.5 + 3 * (m + 0.1))


def drawdown_score(dd: float | None) -> float:
    """Score of a (negative) maximum drawdown; missing → neutral."""
    if dd is None or missing(dd):
        return NEUTRAL
    a = abs(dd)
    if a <= 0.1:
        return 1.0
    if a <= 0.2:
        return 0.8 + 2 * (0.2 - a)
    if a <= 0.3:
        return 0.6 + 2 * (0.3 - a)
    if a <= 0.5:
        return 0.2 + 2 * (0.5 - a)
    return max(0.0, 0.2 - (a - 0.5))


# --- technicals --------------------------------------------------------------------------

def rsi_score(rsi: float | None) -> float:
    """Oversold is attractive: < 30 → 1, > 70 → 0, linear between."""
    if rsi is None or missing(rsi):
        return NEUTRAL
    if rsi < 30:
        return 1.0
    if rsi > 70:
        return 0.0
    return 1 - (rsi - 30) / 40


def bollinger_score(position: float | None) -> float:
    """1 − position within the bands (clamped); degenerate bands → neutral."""
    if position is None or missing(position):
        return NEUTRAL
    return 1 - clamp(position)


def ema_distance_score(price: float | None, ema: float | None) -> float:
    """Distance below the 200-day EMA is attractive; no EMA → neutral."""
    if price is None or ema is None or missing(price) or missing(ema) or ema <= 0:
        return NEUTRAL
    d = price / ema - 1
    if d >= 0.1:
        return 0.2
    if d >= 0:
        return 0.5 - 3 * d
    if d >= -0.05:
        return 0.5 + 4 * abs(d)
    if d >= -0.1:
        return 0.7 + 6 * (abs(d) - 0.05)
    return 1.0


# --- opinion -----------------------------------------------------------------------------

def opinion_score(recommendation: float | None, upside: float | None) -> float:
    """0.6·recommendation + 0.4·clamp(0.5 + 2.5·upside); missing parts neutral."""
    r = NEUTRAL if recommendation is None or missing(recommendation) else clamp(recommendation)
    u = NEUTRAL if upside is None or missing(upside) else clamp(0.5 + 2.5 * upside)
    return 0.6 * r + 0.4 * u


# --- diversification ---------------------------------------------------------------------

def gap_score(target: float, current: float) -> float:
    """Proposed direction fix: underweight groups score high, clamp(0.5 + 2(t − c), 0.1, 0.9)."""
    return clamp(0.5 + 2 * (target - current), 0.1, 0.9)


def averaging_down_score(held: bool, long_term: float, fundamentals: float,
                         opportunity: float, loss_below_cost: float | None,
                         position_share: float) -> float:
    """Attractiveness of adding to a held position (not held → neutral)."""
    if not held:
        return NEUTRAL
    quality = (long_term + fundamentals) / 2
    p = quality * opportunity
    if p >= 0.5:
        s = 0.7 + 0.6 * (p - 0.5)
    elif p >= 0.3:
        s = 0.5 + (p - 0.3)
    else:
        s = 0.3
    if loss_below_cost is not None and not missing(loss_below_cost) \
            and 0 < loss_below_cost <= 0.20:
        s = min(1.0, s + min(0.4, 2 * loss_below_cost))
    if position_share > 0.10:
        s *= 0.7
    elif position_share > 0.05:
        s *= 0.9
    return s


# --- result ------------------------------------------------------------------------------

@dataclass(frozen=True)
class GroupScore:
    """One group's score and the components (name → (sub-score, weight)) behind it."""

    score: float
    components: Mapping[str, tuple[float, float]]


@dataclass(frozen=True)
class SecurityScore:
    """A security's total score with every group, so the score can be explained."""

    symbol: str
    total: float
    groups: Mapping[str, GroupScore]
    weights: Mapping[str, float]
    volatility: float | None = None
    notes: tuple[str, ...] = ()

    @property
    def quality(self) -> float:
        """mean(long_term, fundamentals), the reference's ``quality_score``."""
        return (self.groups["long_term"].score + self.groups["fundamentals"].score) / 2

    def to_record(self) -> dict[str, object]:
        """Flat row for the ``scores`` table: one column per group,
        the total, quality = mean(long_term, fundamentals), volatility and the JSON-ready
        breakdown."""
        row: dict[str, object] = {f"{g}_score": gs.score for g, gs in self.groups.items()}
        row.update({"symbol": self.symbol, "total_score": self.total,
                    "quality_score": round(self.quality, 3), "volatility": self.volatility,
                    "breakdown": self.explain()})
        return row

    def explain(self) -> dict[str, object]:
        """JSON-ready breakdown: total, weights and each group's components."""
        return {
            "symbol": self.symbol, "total": self.total,
            "groups": {
                g: {"score": gs.score, "weight": self.weights.get(g, 0.0),
                    "components": {k: {"score": round(v[0], 4), "weight": v[1]}
                                   for k, v in gs.components.items()}}
                for g, gs in self.groups.items()},
            "notes": list(self.notes),
        }


def _group(components: Mapping[str, tuple[float, float]]) -> GroupScore:
    s = sum(v * w for v, w in components.values())
    return GroupScore(round(min(1.0, s), 3), dict(components))


@dataclass(frozen=True)
class Fundamentals:
    """Fundamental and analyst data of one security; every field optional."""

    trailing_pe: float | None = None
    forward_pe: float | None = None
    profit_margin: float | None = None
    debt_to_equity: float | None = None
    current_ratio: float | None = None
    dividend_yield: float | None = None
    payout_ratio: float | None = None
    five_year_avg_dividend_yield: float | None = None
    analyst_recommendation: float | None = None
    target_upside: float | None = None
    external_sortino: float | None = None
    external_drawdown: float | None = None


@dataclass(frozen=True)
class MetricInputs:
    """The price-derived metrics of one security (a row of the kernel output)."""

    n_bars: int
    last_price: float | None = None
    cagr_5y: float | None = None
    cagr_10y: float | None = None
    sharpe: float | None = None
    sortino: float | None = None
    volatility: float | None = None
    max_drawdown: float | None = None
    rsi: float | None = None
    ema_200: float | None = None
    bollinger: float | None = None
    momentum: float | None = None
    below_high: float | None = None


@dataclass(frozen=True)
class DiversificationContext:
    """Portfolio context for the diversification group (fractions of the invested value)."""

    country_group: str | None
    industry_groups: Sequence[str] = ()
    country_targets: Mapping[str, float] = field(default_factory=dict)
    country_current: Mapping[str, float] = field(default_factory=dict)
    industry_targets: Mapping[str, float] = field(default_factory=dict)
    industry_current: Mapping[str, float] = field(default_factory=dict)
    held: bool = False
    loss_below_cost: float | None = None
    position_share: float = 0.0


def _opt(x: float | None) -> float | None:
    return None if x is None or missing(x) else x


def score_security(symbol: str, m: MetricInputs, f: Fundamentals | None = None,
                   ctx: DiversificationContext | None = None, *,
                   target_return: float = 0.11, market_pe: float = 22.0,
                   weights: Mapping[str, float] = GROUP_WEIGHTS) -> SecurityScore:
    """Score one security: eight groups and their weighted total (3 dp)."""
    f = f or Fundamentals()
    notes: list[str] = []
    sortino = _opt(f.external_sortino) if _opt(f.external_sortino) is not None else m.sortino
    drawdown = _opt(f.external_drawdown) if _opt(f.external_drawdown) is not None \
        else m.max_drawdown
    groups: dict[str, GroupScore] = {}
    groups["long_term"] = _group({
        "cagr": (cagr_score(_opt(m.cagr_5y), target_return), 0.40),
        "sortino": (sortino_score(_opt(sortino)), 0.35),
        "sharpe": (sharpe_score(_opt(m.sharpe)), 0.25)})
    groups["fundamentals"] = _group({
        "financial_strength": (financial_strength_score(
            f.profit_margin, f.debt_to_equity, f.current_ratio), 0.60),
        "consistency": (consistency_score(_opt(m.cagr_5y), _opt(m.cagr_10y)), 0.40)})
    if m.n_bars < 50:
        notes.append("opportunity: fewer than 50 bars, neutral")
        groups["opportunity"] = _group({"below_52w_high": (NEUTRAL, 0.5),
                                        "pe": (NEUTRAL, 0.5)})
    else:
        groups["opportunity"] = _group({
            "below_52w_high": (below_high_score(_opt(m.below_high)), 0.50),
            "pe": (pe_score(f.trailing_pe, f.forward_pe, market_pe), 0.50)})
    has_div_data = not (missing(f.payout_ratio) and missing(f.five_year_avg_dividend_yield))
    consistency = 0.5 * payout_score(_opt(f.payout_ratio)) + 0.5 * dividend_growth_score(
        _opt(f.dividend_yield), _opt(f.five_year_avg_dividend_yield)) if has_div_data \
        else NEUTRAL
    groups["dividends"] = _group({
        "yield": (dividend_yield_score(_opt(f.dividend_yield)), 0.70),
        "consistency": (consistency, 0.30)})
    groups["short_term"] = _group({
        "momentum": (momentum_score(_opt(m.momentum)), 0.50),
        "drawdown": (drawdown_score(_opt(drawdown)), 0.50)})
    if m.n_bars < 20:
        notes.append("technicals: fewer than 20 bars, neutral")
        groups["technicals"] = _group({"rsi": (NEUTRAL, 0.35), "bollinger": (NEUTRAL, 0.35),
                                       "ema_distance": (NEUTRAL, 0.30)})
    else:
        groups["technicals"] = _group({
            "rsi": (rsi_score(_opt(m.rsi)), 0.35),
            "bollinger": (bollinger_score(_opt(m.bollinger)), 0.35),
            "ema_distance": (ema_distance_score(_opt(m.last_price), _opt(m.ema_200)), 0.30)})
    r = _opt(f.analyst_recommendation)
    u = _opt(f.target_upside)
    groups["opinion"] = _group({
        "recommendation": (NEUTRAL if r is None else clamp(r), 0.60),
        "price_target": (NEUTRAL if u is None else clamp(0.5 + 2.5 * u), 0.40)})
    if ctx is None or ctx.country_group is None:
        groups["diversification"] = _group({"geography": (NEUTRAL, 0.40),
                                            "industry": (NEUTRAL, 0.30),
                                            "averaging_down": (NEUTRAL, 0.30)})
    else:
        geo = gap_score(ctx.country_targets.get(ctx.country_group, 0.0),
                        ctx.country_current.get(ctx.country_group, 0.0))
        inds = [gap_score(ctx.industry_targets.get(g, 0.0), ctx.industry_current.get(g, 0.0))
                for g in ctx.industry_groups]
        ind = sum(inds) / len(inds) if inds else NEUTRAL
        avg = averaging_down_score(ctx.held, groups["long_term"].score,
                                   groups["fundamentals"].score, groups["opportunity"].score,
                                   ctx.loss_below_cost, ctx.position_share)
        groups["diversification"] = _group({"geography": (geo, 0.40), "industry": (ind, 0.30),
                                            "averaging_down": (avg, 0.30)})
    wsum = sum(weights.get(g, 0.0) for g in groups)
    norm = {g: weights.get(g, 0.0) / wsum for g in groups} if wsum > 0 else \
        dict.fromkeys(groups, 1 / len(groups))
    total = round(sum(norm[g] * gs.score for g, gs in groups.items()), 3)
    vol = _opt(m.volatility) if m.n_bars >= 30 else None
    return SecurityScore(symbol, total, groups, norm, vol, tuple(notes))
