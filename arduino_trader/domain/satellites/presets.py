"""Strategy presets: named slider, toggle and dividend-handling bundles.

Applying a preset overwrites exactly those fields and records the name; the risk
parameters (risk-free rate, MAR, evaluation period, volatility window) are kept.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import Decimal

from arduino_trader.protocols.satellite_records import (
    DividendHandling,
    InvalidBucket,
    SatelliteSettings,
)


@dataclass(frozen=True)
class Preset:
    """One preset: sliders, toggles and dividend handling, with a one-line description."""

    name: str
    description: str
    risk_appetite: Decimal
    hold_duration: Decimal
    entry_style: Decimal
    position_spread: Decimal
    profit_taking: Decimal
    trailing_stops: bool
    follow_regime: bool
    dividend_handling: DividendHandling


def _d(text: str) -> Decimal:
    return Decimal(text)


PRESETS: dict[str, Preset] = {p.name: p for p in (
    Preset("momentum_hunter", "Rides strong trends: bold entries, short holds, trailing "
           "stops, follows the market regime", _d("0.7"), _d("0.3"), _d("0.8"), _d("0.4"),
           _d("0.6"), True, True, "reinvest_same"),
    Preset("steady_eddy", "Patient and diversified: low risk, long holds, small profit "
           "targets", _d("0.3"), _d("0.8"), _d("0.3"), _d("0.7"), _d("0.3"), False, False,
           "reinvest_same"),
    Preset("dip_buyer", "Buys weakness and waits for the rebound", _d("0.5"), _d("0.7"),
           _d("0.2"), _d("0.6"), _d("0.4"), False, False, "reinvest_same"),
    Preset("dividend_catcher", "Short holds around dividends, cash kept in the satellite",
           _d("0.4"), _d("0.2"), _d("0.5"), _d("0.8"), _d("0.8"), False, False,
           "accumulate_cash"),
)}


class UnknownPreset(InvalidBucket):
    """A preset name that is not defined (API: 400)."""

    code = "unknown_preset"


def apply_preset(settings: SatelliteSettings, name: str) -> SatelliteSettings:
    """``settings`` with the preset's sliders, toggles and handling, and its name stored.

    ``auto_harvest`` and ``pause_high_volatility`` are switched off (off in every preset);
    the risk parameters are kept as they were.
    """
    preset = PRESETS.get(name)
    if preset is None:
        raise UnknownPreset(f"unknown preset {name!r}; known: {sorted(PRESETS)}")
    return replace(settings, preset=preset.name, risk_appetite=preset.risk_appetite,
                   hold_duration=preset.hold_duration, entry_style=preset.entry_style,
                   position_spread=preset.position_spread,
                   profit_taking=preset.profit_taking, trailing_stops=preset.trailing_stops,
                   follow_regime=preset.follow_regime, auto_harvest=False,
                   pause_high_volatility=False, dividend_handling=preset.dividend_handling)


def describe() -> list[dict[str, str]]:
    """[{name, description}] of every preset, for the presets endpoint."""
    return [{"name": p.name, "description": p.description} for p in PRESETS.values()]
