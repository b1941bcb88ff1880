"""The aggression calculator: how boldly a satellite may buy.

aggression = min(allocation step, drawdown step); the effective aggression multiplies in
the re-awakening and cooldown multipliers and scales **buys only**, floored to whole
lots. Core never uses aggression.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

from arduino_trader.protocols.money import ZERO
from arduino_trader.protocols.satellite_records import ONE

from .drawdown import drawdown

MIN_TARGET_VALUE = Decimal("0.01")
_FUNDING_STEPS = ((Decimal("1"), Decimal("1.0")), (Decimal("0.8"), Decimal("0.8")),
                  (Decimal("0.6"), Decimal("0.6")), (Decimal("0.4"), Decimal("0.4")))
_DRAWDOWN_STEPS = ((Decimal("0.35"), Decimal("0")), (Decimal("0.25"), Decimal("0.3")),
                   (Decimal("0.15"), Decimal("0.7")))

LimitingFactor = Literal["allocation", "drawdown", "equal"]


@dataclass(frozen=True)
class Aggression:
    """The aggression calculator's result."""

    aggression: Decimal
    allocation_aggression: Decimal
    drawdown_aggression: Decimal
    limiting_factor: LimitingFactor
    current_value: Decimal
    target_value: Decimal
    pct_of_target: Decimal
    drawdown: Decimal
    in_hibernation: bool


def allocation_step(funding: Decimal) -> Decimal:
    """f ≥ 1 → 1.0; ≥ 0.8 → 0.8; ≥ 0.6 → 0.6; ≥ 0.4 → 0.4; else 0."""
    for floor, step in _FUNDING_STEPS:
        if funding >= floor:
            return step
    return ZERO


def drawdown_step(dd: Decimal) -> Decimal:
    """dd ≥ 0.35 → 0; ≥ 0.25 → 0.3; ≥ 0.15 → 0.7; else 1.0."""
    for floor, step in _DRAWDOWN_STEPS:
        if dd >= floor:
            return step
    return ONE


def calculate(value_eur: Decimal, target_pct: Decimal, total_portfolio_eur: Decimal,
              high_water_mark: Decimal) -> Aggression:
    """Aggression of a satellite worth ``value_eur`` with ``target_pct`` of a portfolio
    worth ``total_portfolio_eur`` (positions + all cash, EUR)."""
    target_value = target_pct * total_portfolio_eur
    funding = ZERO if target_value < MIN_TARGET_VALUE else value_eur / target_value
    dd = drawdown(high_water_mark, value_eur)
    by_allocation = allocation_step(funding)
    by_drawdown = drawdown_step(dd)
    result = min(by_allocation, by_drawdown)
    factor: LimitingFactor
    if by_allocation < by_drawdown:
        factor = "allocation"
    elif by_drawdown < by_allocation:
        factor = "drawdown"
    else:
        factor = "equal"
    return Aggression(aggression=result, allocation_aggression=by_allocation,
                      drawdown_aggression=by_drawdown, limiting_factor=factor,
                      current_value=value_eur, target_value=target_value,
                      pct_of_target=funding, drawdown=dd, in_hibernation=result == 0)


def effective(aggression: Decimal, reawakening_multiplier: Decimal,
              cooldown_multiplier: Decimal) -> Decimal:
    """aggression × re-awakening multiplier × cooldown multiplier."""
    return aggression * reawakening_multiplier * cooldown_multiplier


def scale_buy(quantity: Decimal, lot_size: int, effective_aggression: Decimal) -> Decimal:
    """A buy quantity scaled by aggression and floored to whole lots (0 = drop the buy).

    Sells are never scaled: call this for buys only.
    """
    if lot_size < 1:
        raise ValueError(f"lot size must be >= 1, got {lot_size}")
    if quantity <= 0 or effective_aggression <= 0:
        return ZERO
    scaled = quantity * min(effective_aggression, ONE)
    lots = int(scaled // lot_size)
    return Decimal(lots * lot_size)
