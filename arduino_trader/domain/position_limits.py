"""The position cap shared by the planner and the executor's guardrail (pure).

A fixed cap starves a small universe of investment (five securities at 15 % leave a
quarter of the money idle), so the cap scales with the universe: the larger of its floor
(``max_position_fraction``) and ``position_cap_universe_multiple`` / N, never above 1.
"""

from __future__ import annotations

from decimal import Decimal


def position_cap(floor: float, multiple: float, universe_size: int) -> float:
    """Largest share of the portfolio one position may reach by buying."""
    scaled = multiple / universe_size if universe_size > 0 else 0.0
    return min(1.0, max(floor, scaled))


def position_cap_decimal(floor: Decimal, multiple: Decimal, universe_size: int) -> Decimal:
    """:func:`position_cap` in exact arithmetic (the executor's guardrail)."""
    scaled = multiple / universe_size if universe_size > 0 else Decimal(0)
    return min(Decimal(1), max(floor, scaled))
