"""Windfall (gain beyond the expected CAGR) and sell scoring of held positions."""

from __future__ import annotations

import math
from dataclasses import dataclass

from .curves import missing


@dataclass(frozen=True)
class Windfall:
    """Excess gain over what the security's CAGR explains, its score and take-profit share."""

    gain: float
    expected: float
    excess: float
    score: float
    sell_pct: float


def windfall(gain: float, days_held: float | None, cagr_5y: float | None,
             cagr_10y: float | None) -> Windfall:
    """Windfall: expected = (1+cagr)^years − 1, excess = gain − expected; take-profit rule."""
    years = 1.0 if days_held is None or missing(days_held) else max(0.1, days_held / 365)
    cagr = next((c for c in (cagr_5y, cagr_10y) if c is not None and not missing(c)), 0.10)
    expected = (1 + cagr) ** years - 1 if cagr > -1 else -1.0
    excess = gain - expected
    if excess >= 0.5:
        score = 1.0
    elif excess >= 0.25:
        score = 0.5 + 2 * (excess - 0.25)
    elif excess > 0:
        score = 2 * excess
    else:
        score = 0.0
    if gain >= 1.0:
        pct = 0.5 if excess > 0.30 else 0.3
    elif excess >= 0.50:
        pct = 0.4
    elif excess >= 0.25:
        pct = 0.2
    else:
        pct = 0.0
    return Windfall(gain, expected, excess, min(1.0, score), pct)


@dataclass(frozen=True)
class SellInputs:
    """What sell scoring needs about one held position (fractions; days may be unknown)."""

    symbol: str
    quantity: float
    price_eur: float
    avg_cost_eur: float
    position_share: float
    country_alloc: float
    industry_allocs: tuple[float, ...]
    days_since_first_buy: float | None
    days_since_last_buy: float | None
    days_since_last_sell: float | None
    volatility_60d: float | None
    volatility_1y: float | None
    price_vs_sma200: float | None
    current_drawdown: float | None
    days_underwater: float | None
    allow_sell: bool = True
    min_lot: int = 1


@dataclass(frozen=True)
class SellScore:
    """Sell score: eligibility, five components, total and the suggested quantity."""

    symbol: str
    eligible: bool
    block_reason: str | None
    components: dict[str, float]
    total: float
    suggested_pct: float
    suggested_quantity: int
    suggested_value: float
    profit_pct: float
    days_held: float | None


def _underperformance(profit: float, days: float | None) -> float:
    years = (days or 365.0) / 365.0
    annual = profit if years < 0.25 else (1 + profit) ** (1 / years) - 1 if profit > -1 else -1
    if annual < -0.05:
        return 0.9
    if annual < 0:
        return 0.7
    if annual < 0.08:
        return 0.5
    if annual <= 0.15:
        return 0.1
    return 0.3


def _time_held(days: float | None) -> float:
    if days is None or missing(days):
        return 0.6
    if days < 90:
        return 0.0
    if days < 180:
        return 0.3
    if days < 365:
        return 0.6
    if days < 730:
        return 0.8
    return 1.0


def _balance(x: SellInputs) -> float:
    conc = x.position_share / 0.10 if x.position_share <= 0.10 else min(1.0,
                                                                       x.position_share / 0.15)
    ind = sum(min(1.0, a / 0.3) for a in x.industry_allocs) / len(x.industry_allocs) \
        if x.industry_allocs else 0.5
    return 0.5 * min(1.0, x.country_alloc / 0.5) + 0.3 * ind + 0.2 * conc


def _step(v: float | None, cuts: tuple[float, float, float]) -> float:
    if v is None or missing(v):
        return 0.1
    if v > cuts[0]:
        return 1.0
    if v > cuts[1]:
        return 0.7
    if v > cuts[2]:
        return 0.4
    return 0.1


def _instability(x: SellInputs, profit: float) -> float:
    days = x.days_since_first_buy
    if days is None or missing(days) or days <= 30:
        rate = 0.5
    else:
        annual = (1 + profit) ** (365 / days) - 1 if profit > -1 else -1.0
        rate = _step(annual, (0.5, 0.3, 0.2))
    spike = _step(x.volatility_60d / x.volatility_1y
                  if x.volatility_60d and x.volatility_1y else None, (2.0, 1.5, 1.2))
    stretch = _step(x.price_vs_sma200, (0.3, 0.2, 0.1))
    if all(missing(v) for v in (x.volatility_60d, x.price_vs_sma200)):
        value = 0.3
    else:
        value = 0.4 * rate + 0.3 * spike + 0.3 * stretch
    if profit > 1.0:
        value = max(value, 0.2)
    elif profit > 0.75:
        value = max(value, 0.1)
    return value


def _drawdown(dd: float | None, days_underwater: float | None) -> float:
    if dd is None or missing(dd):
        return 0.1
    if dd < -0.25:
        return 1.0
    if dd < -0.15:
        d = days_underwater or 0.0
        return 0.9 if d > 180 else 0.7 if d > 90 else 0.5
    if dd < -0.10:
        return 0.3
    return 0.1


def sell_score(x: SellInputs, *, max_loss_threshold: float = -0.20, min_hold_days: float = 90,
               sell_cooldown_days: float = 180, min_sell_value: float = 100.0) -> SellScore:
    """Sell scoring, where min-hold counts from the last buy, cooldown from the last
    sell (unknown dates allow)."""
    profit = x.price_eur / x.avg_cost_eur - 1 if x.avg_cost_eur > 0 else 0.0
    reason: str | None = None
    if not x.allow_sell:
        reason = "selling not allowed"
    elif profit < max_loss_threshold:
        reason = f"loss {profit:.1%} beyond {max_loss_threshold:.0%}"
    elif x.days_since_last_buy is not None and x.days_since_last_buy < min_hold_days:
        reason = f"held {x.days_since_last_buy:.0f} d < {min_hold_days:.0f} d since last buy"
    elif x.days_since_last_sell is not None and x.days_since_last_sell < sell_cooldown_days:
        reason = f"sold {x.days_since_last_sell:.0f} d ago (cooldown {sell_cooldown_days:.0f} d)"
    comps = {
        "underperformance": _underperformance(profit, x.days_since_first_buy),
        "time_held": _time_held(x.days_since_first_buy),
        "balance": _balance(x),
        "instability": _instability(x, profit),
        "drawdown": _drawdown(x.current_drawdown, x.days_underwater),
    }
    weights = {"underperformance": 0.35, "time_held": 0.18, "balance": 0.18,
               "instability": 0.14, "drawdown": 0.15}
    total = sum(comps[k] * w for k, w in weights.items())
    pct = min(0.5, max(0.10, 0.10 + 0.40 * total))
    lot = max(1, x.min_lot)
    qty = math.floor(x.quantity * pct / lot) * lot
    if qty >= x.quantity:  # never the last lot
        qty = int(x.quantity) - lot
    value = qty * x.price_eur
    if qty < lot or value < min_sell_value:
        qty, value = 0, 0.0
    return SellScore(x.symbol, reason is None, reason, comps, round(total, 4), pct, qty, value,
                     profit, x.days_since_first_buy)
