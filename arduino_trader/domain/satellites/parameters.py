"""The parameter mapper: satellite sliders → trading parameters.

Exact Decimal arithmetic: 0.7 × 180 is exactly 126, so a 0.7 hold gives 127 days (the
reference's binary floats truncated 125.99… to 126).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from arduino_trader.protocols.satellite_records import ONE, DividendHandling, SatelliteSettings

DIP_BUYER_ENTRY_BELOW = Decimal("0.5")


@dataclass(frozen=True)
class SatelliteParameters:
    """Trading parameters of one satellite (fractions unless named days/positions)."""

    position_size_max: Decimal
    stop_loss_pct: Decimal
    target_hold_days: int
    patience_factor: Decimal
    buy_dip_threshold: Decimal
    breakout_threshold: Decimal
    max_positions: int
    diversification_factor: Decimal
    take_profit_threshold: Decimal
    trailing_stop_distance: Decimal
    trailing_stops: bool
    follow_regime: bool
    auto_harvest: bool
    pause_high_volatility: bool
    dividend_handling: DividendHandling
    is_dip_buyer: bool


def map_parameters(settings: SatelliteSettings) -> SatelliteParameters:
    """Apply the mapper's formulas to ``settings`` (missing settings: use the defaults)."""
    risk = settings.risk_appetite
    hold = settings.hold_duration
    entry = settings.entry_style
    spread = settings.position_spread
    profit = settings.profit_taking
    return SatelliteParameters(
        position_size_max=Decimal("0.15") + Decimal("0.25") * risk,
        stop_loss_pct=Decimal("0.05") + Decimal("0.15") * risk,
        target_hold_days=int(1 + 180 * hold),
        patience_factor=hold,
        buy_dip_threshold=ONE - entry,
        breakout_threshold=entry,
        max_positions=int(3 + 20 * spread),
        diversification_factor=spread,
        take_profit_threshold=Decimal("0.05") + Decimal("0.25") * profit,
        trailing_stop_distance=Decimal("0.10") * (ONE - profit),
        trailing_stops=settings.trailing_stops,
        follow_regime=settings.follow_regime,
        auto_harvest=settings.auto_harvest,
        pause_high_volatility=settings.pause_high_volatility,
        dividend_handling=settings.dividend_handling,
        is_dip_buyer=entry < DIP_BUYER_ENTRY_BELOW,
    )
