"""Score a whole universe from its price matrix (the scoring endpoint and the planner)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import numpy.typing as npt

from . import kernels as k
from .scorers import (
    DiversificationContext,
    Fundamentals,
    MetricInputs,
    SecurityScore,
    score_security,
)


def finite_or_none(x: float) -> float | None:
    """``x`` as a float, or ``None`` when it is NaN or infinite."""
    return float(x) if math.isfinite(x) else None


def metric_inputs(row: npt.NDArray[np.float64]) -> MetricInputs:
    """A kernel metrics row as scorer input (NaN → None)."""
    f = finite_or_none
    return MetricInputs(
        int(row[k.M_N_VALID]), f(row[k.M_LAST]), f(row[k.M_CAGR_5Y]), f(row[k.M_CAGR_10Y]),
        f(row[k.M_SHARPE]), f(row[k.M_SORTINO]), f(row[k.M_VOLATILITY]),
        f(row[k.M_MAX_DRAWDOWN]), f(row[k.M_RSI]), f(row[k.M_EMA_200]),
        f(row[k.M_BOLLINGER]), f(row[k.M_MOMENTUM]), f(row[k.M_BELOW_HIGH]))


def score_universe(symbols: Sequence[str], prices: npt.NDArray[np.float64],
                   fundamentals: Mapping[str, Fundamentals] | None = None,
                   contexts: Mapping[str, DiversificationContext] | None = None, *,
                   risk_free_rate: float = 0.0, target_return: float = 0.11,
                   market_pe: float = 22.0) -> list[SecurityScore | None]:
    """One score per symbol (``None`` when it has no valid price at all)."""
    prices = np.ascontiguousarray(prices, dtype=np.float64)
    if prices.ndim != 2 or prices.shape[0] != len(symbols):
        raise ValueError(f"price matrix {prices.shape} does not match {len(symbols)} symbols")
    metrics = k.security_metrics(prices, risk_free_rate)
    out: list[SecurityScore | None] = []
    for i, sym in enumerate(symbols):
        if metrics[i, k.M_N_VALID] < 1:
            out.append(None)
            continue
        out.append(score_security(sym, metric_inputs(metrics[i]),
                                  (fundamentals or {}).get(sym), (contexts or {}).get(sym),
                                  target_return=target_return, market_pe=market_pe))
    return out
