"""Pure helpers over daily price series."""

from __future__ import annotations

from collections.abc import Iterable

from arduino_trader.protocols.market_data import MonthlyPrice, PriceBar


def monthly_means(bars: Iterable[PriceBar]) -> list[MonthlyPrice]:
    """Mean close and mean adjusted close (close when missing) per ``YYYY-MM``, oldest first
    (the CAGR input)."""
    sums: dict[str, list[float]] = {}
    for bar in bars:
        key = f"{bar.day.year:04d}-{bar.day.month:02d}"
        acc = sums.setdefault(key, [0.0, 0.0, 0.0])
        acc[0] += bar.close
        acc[1] += bar.adj_close if bar.adj_close is not None else bar.close
        acc[2] += 1
    return [MonthlyPrice(month, acc[0] / acc[2], acc[1] / acc[2])
            for month, acc in sorted(sums.items())]
