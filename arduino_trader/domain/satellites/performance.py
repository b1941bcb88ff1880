"""Bucket performance metrics for the meta-allocator.

Trade statistics come from the bucket's closed trades in the period; return and risk
come from the daily, flow-adjusted bucket value series (a deposit is not a gain):
r_t = (V_t − F_t)/V_{t−1} − 1. Sharpe and Sortino are annualised with √252 using the
satellite's risk-free rate and MAR. Every composite component is clamped to [−5, 5], so
no infinity can poison the score. Analytics are float64 (not ledger money).

The return and risk formulas are :mod:`arduino_trader.domain.analytics` (computed once
for the portfolio, the satellites and the backtest); this module adds only the
policy: the period window, days after a non-positive value skipped, annualisation over
the period's calendar days, drawdown as a positive fraction, an infinite Sortino when
nothing fell below the MAR, and the clamped composite.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from arduino_trader.domain import analytics
from arduino_trader.protocols.bucket_trades import ClosedTrade, ValuePoint

MIN_TRADES = 5
TRADING_DAYS = analytics.TRADING_DAYS
CLAMP = 5.0


@dataclass(frozen=True)
class BucketMetrics:
    """Bucket performance metrics; percentages as fractions (0.55 = 55 %)."""

    trades: int
    wins: int
    losses: int
    win_rate: float
    profit_factor: float
    avg_win: float
    avg_loss: float
    largest_win: float
    largest_loss: float
    total_return: float
    annualized_return: float
    volatility: float
    downside_volatility: float
    sharpe: float
    sortino: float
    max_drawdown: float
    calmar: float
    composite_score: float


def clamp(value: float, bound: float = CLAMP) -> float:
    """``value`` clamped to [−bound, bound]; NaN → 0."""
    if math.isnan(value):
        return 0.0
    return max(-bound, min(bound, value))


def daily_returns(series: Sequence[ValuePoint]) -> list[float]:
    """Flow-adjusted daily returns; a day after a non-positive value is skipped.

    The flow is taken off in exact Decimal before the ratio (so a flow-only day is
    exactly 0, never a float residue that would count as a loss)."""
    ordered = sorted(series, key=lambda p: p.day)
    return [float(analytics.daily_returns([float(prev.value_eur),
                                           float(cur.value_eur - cur.net_flow_eur)])[0])
            for prev, cur in itertools.pairwise(ordered) if prev.value_eur > 0]


def max_drawdown(returns: Sequence[float]) -> float:
    """Largest peak-to-trough fall of the wealth index, as a positive fraction."""
    return -analytics.max_drawdown(returns)


def bucket_metrics(trades: Sequence[ClosedTrade], series: Sequence[ValuePoint], *,
                   now: datetime, period_days: int = 90, risk_free_rate: float = 0.035,
                   sortino_mar: float = 0.05) -> BucketMetrics | None:
    """Metrics over the last ``period_days``; None when there are fewer than 5 closed
    trades or fewer than two value points (insufficient data → neutral score)."""
    since = now - timedelta(days=period_days)
    pnls = [float(t.realized_pnl) for t in trades if t.closed_at >= since]
    start_day = since.date()
    points = [p for p in series if p.day >= start_day]
    if len(pnls) < MIN_TRADES or len(points) < 2:
        return None
    wins = [p for p in pnls if p > 0]
    losses = [p for p in pnls if p < 0]
    decided = len(wins) + len(losses)
    win_rate = len(wins) / decided if decided else 0.0
    gross_profit, gross_loss = sum(wins), -sum(losses)
    if gross_loss > 0:
        profit_factor = gross_profit / gross_loss
    else:
        profit_factor = math.inf if gross_profit > 0 else 0.0

    returns = daily_returns(points)
    total = analytics.total_return(returns)
    growth = 1.0 + total
    annual = growth ** (365.0 / period_days) - 1.0 if growth > 0 else -1.0
    mean = sum(returns) / len(returns) if returns else 0.0
    volatility = analytics.volatility(returns)
    downside_vol = analytics.volatility([r for r in returns if r < 0])
    sharpe = analytics.sharpe_ratio(returns, risk_free_rate)
    if analytics.downside_deviation(returns, sortino_mar) >= analytics.MIN_DEVIATION:
        sortino = analytics.sortino_ratio(returns, sortino_mar)
    else:  # nothing below the MAR: unbounded (the composite clamps it)
        sortino = math.inf if mean > sortino_mar / TRADING_DAYS else 0.0
    mdd = max_drawdown(returns)
    calmar = analytics.calmar_ratio(annual, mdd)
    composite = (0.3 * clamp(sharpe) + 0.3 * clamp(sortino) + 0.2 * clamp(profit_factor - 1)
                 + 0.1 * clamp(win_rate) + 0.1 * clamp(calmar))
    return BucketMetrics(
        trades=len(pnls), wins=len(wins), losses=len(losses), win_rate=win_rate,
        profit_factor=profit_factor,
        avg_win=sum(wins) / len(wins) if wins else 0.0,
        avg_loss=sum(losses) / len(losses) if losses else 0.0,
        largest_win=max(wins, default=0.0), largest_loss=min(losses, default=0.0),
        total_return=total, annualized_return=annual, volatility=volatility,
        downside_volatility=downside_vol, sharpe=sharpe, sortino=sortino,
        max_drawdown=mdd, calmar=calmar, composite_score=composite)
