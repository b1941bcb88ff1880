"""Portfolio score 0–100 with its three parts (diversification, dividend, quality)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class PortfolioScore:
    """total = 0.4·diversification + 0.3·dividend + 0.3·quality (each 0–100)."""

    total: float
    diversification: float
    dividend: float
    quality: float


def portfolio_score(values: Mapping[str, float], group_of: Mapping[str, str],
                    group_targets: Mapping[str, float], dividend_yield: Mapping[str, float],
                    quality: Mapping[str, float]) -> PortfolioScore:
    """Score EUR position ``values``; an empty portfolio scores 50 everywhere."""
    total = sum(v for v in values.values() if v > 0)
    if total <= 0:
        return PortfolioScore(50.0, 50.0, 50.0, 50.0)
    w = {s: v / total for s, v in values.items() if v > 0}
    current: dict[str, float] = {}
    for s, x in w.items():
        g = group_of.get(s, "OTHER")
        current[g] = current.get(g, 0.0) + x
    groups = set(group_targets) | set(current)
    avg_dev = (sum(abs(current.get(g, 0.0) - group_targets.get(g, 0.0)) for g in groups)
               / len(groups)) if group_targets else 0.2
    div = max(0.0, 100 * (1 - avg_dev / 0.3))
    known_y = [s for s in w if s in dividend_yield]
    dividend = min(100.0, 30 + 1000 * sum(w[s] * dividend_yield[s] for s in known_y)) \
        if known_y else 50.0
    qual = 100 * sum(x * quality.get(s, 0.5) for s, x in w.items()) if quality else 50.0
    return PortfolioScore(round(0.4 * div + 0.3 * dividend + 0.3 * qual, 2), div, dividend,
                          qual)
