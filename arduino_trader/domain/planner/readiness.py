"""Whether a planning input is complete enough to plan on (pure)."""

from __future__ import annotations

import numpy as np

from .models import PlanInput


def missing_prices(inp: PlanInput) -> tuple[str, ...]:
    """Held symbols (quantity > 0) of the universe without any positive close or without
    a positive FX rate: a plan made now would leave them out as if they were not held."""
    index = {sec.symbol: i for i, sec in enumerate(inp.securities)}
    missing: list[str] = []
    for h in inp.holdings:
        i = index.get(h.symbol)
        if i is None or not h.quantity > 0:
            continue
        fx = inp.securities[i].fx_rate
        row = inp.prices[i] if inp.prices.ndim == 2 and i < inp.prices.shape[0] else None
        priced = row is not None and bool(np.any(np.isfinite(row) & (row > 0)))
        if not priced or not (fx and fx > 0):
            missing.append(h.symbol)
    return tuple(sorted(set(missing)))


def missing_trade_history(inp: PlanInput) -> tuple[str, ...]:
    """Held symbols (quantity > 0) of the universe whose broker trade history is not
    imported yet: their hold time is unknown, so a sell could break the minimum hold."""
    universe = {sec.symbol for sec in inp.securities}
    return tuple(sorted({h.symbol for h in inp.holdings if h.symbol in universe
                         and h.quantity > 0 and not h.trade_history_known}))


__all__ = ["missing_prices", "missing_trade_history"]
