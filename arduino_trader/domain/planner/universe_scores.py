"""Scores of a planning input's whole universe, without portfolio context (pure)."""

from __future__ import annotations

from arduino_trader.domain.scoring.scorers import SecurityScore
from arduino_trader.domain.scoring.universe import score_universe

from .models import PlanInput


def score_inputs(inp: PlanInput) -> list[SecurityScore | None] | None:
    """One score per security of ``inp`` (None where it has no price); None when the
    universe is empty. Diversification is neutral: no portfolio context."""
    if not inp.securities:
        return None
    s = inp.settings
    return score_universe(
        [x.symbol for x in inp.securities], inp.prices,
        {x.symbol: x.fundamentals for x in inp.securities if x.fundamentals},
        risk_free_rate=s.risk_free_rate, target_return=s.target_annual_return,
        market_pe=s.market_avg_pe)


__all__ = ["score_inputs"]
