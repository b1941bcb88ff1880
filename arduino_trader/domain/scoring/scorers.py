"""Security scoring: every group, with its components, and the weighted total.

Each group is a weighted sum of sub-scores from the curves of :mod:`.curves` (plain
floats in, ``None`` or NaN = missing, a value in [0, 1] out); :func:`score_security`
keeps every component so a score can be explained.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from .curves import (
    NEUTRAL,
    averaging_down_score,
    below_high_score,
    bollinger_score,
    cagr_score,
    clamp,
    consistency_score,
    dividend_growth_score,
    dividend_yield_score,
    drawdown_score,
    ema_distance_score,
    financial_strength_score,
    gap_score,
    missing,
    momentum_score,
    payout_score,
    pe_score,
    rsi_score,
    sharpe_score,
    sortino_score,
)

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
