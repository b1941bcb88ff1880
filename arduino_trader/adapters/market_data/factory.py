"""Build the configured market-data source (``market_data.source``)."""

from __future__ import annotations

from pathlib import Path

from arduino_trader.config.settings import Settings
from arduino_trader.protocols.clock import Clock
from arduino_trader.protocols.market_data import MarketData

from .replay_data import parse_fx_setting
from .replay_source import ReplaySource


def build_source(settings: Settings, clock: Clock, cache_dir: Path) -> MarketData:
    """The replay source (bundled data by default) or the yfinance adapter."""
    kind = settings.typed.market_data.source
    if kind == "replay":
        path = settings.typed.market_data.replay_prices_file
        fx = parse_fx_setting(settings.typed.market_data.replay_fx_rates)
        return ReplaySource(clock, prices=Path(path) if path else None, fx=fx)
    from .yfinance_source import YFinanceSource

    return YFinanceSource.from_settings(settings, clock, cache_dir)
