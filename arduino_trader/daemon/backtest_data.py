"""What a backtest ran on, for its report: the tradable securities of the price file (and
whether the universe file described each or the stated defaults were used), the index
columns, every dropped column with its reason, and what kind of prices they are."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from arduino_trader.adapters.market_data.replay_source import ReplaySource

BUNDLED_PRICES = ("split- and dividend-adjusted closes: total return, dividends are not "
                  "seen as cash")
GIVEN_PRICES = ("the closes as given: total return if they are adjusted for dividends, "
                "price only if not")
INDEX_PRICES = "price index: no dividends (price only)"


def data_description(source: ReplaySource, data: Path | None,
                     universe: Path | None) -> dict[str, Any]:
    """The report's ``data`` section for a run on ``source``."""
    tradable = source.tradable()
    return {
        "prices": str(data) if data else "bundled",
        "universe_file": str(universe) if universe else "bundled directory",
        "price_kind": GIVEN_PRICES if data else BUNDLED_PRICES,
        "securities": [{"ticker": s.yahoo_symbol, "symbol": s.symbol, "isin": s.isin,
                        "currency": s.currency, "name": s.name, "country": s.country,
                        "industry": s.industry} for s in tradable.securities],
        "benchmark_index": {t: INDEX_PRICES for t in tradable.indexes},
        "dropped_columns": dict(tradable.dropped),
    }


__all__ = ["data_description"]
