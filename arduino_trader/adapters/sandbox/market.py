"""The sandbox's simulated market: a fixed catalogue and deterministic prices.

Prices are a closed-form function of (seed, symbol, time), so a restarted sandbox with
the same seed quotes the same prices and history, and tests are reproducible.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal


@dataclass(frozen=True)
class Instrument:
    """One tradable instrument of the sandbox."""

    ticker: str
    name: str
    isin: str
    currency: str
    base_price: Decimal
    min_step: Decimal
    lot: int
    market: str
    market_id: int
    instr_type: int = 1
    instr_kind: int = 1


CATALOGUE: tuple[Instrument, ...] = (
    Instrument("AAPL.US", "Apple Inc.", "US0378331005", "USD", Decimal("190"),
               Decimal("0.01"), 1, "FIX", 1),
    Instrument("MSFT.US", "Microsoft Corporation", "US5949181045", "USD", Decimal("410"),
               Decimal("0.01"), 1, "FIX", 1),
    Instrument("SAP.EU", "SAP SE", "DE0007164600", "EUR", Decimal("180"), Decimal("0.02"),
               1, "EU", 30),
    Instrument("ASML.EU", "ASML Holding N.V.", "NL0010273215", "EUR", Decimal("650"),
               Decimal("0.1"), 1, "EU", 30),
    Instrument("VWCE.EU", "Vanguard FTSE All-World UCITS ETF (Acc)", "IE00BK5BQT80", "EUR",
               Decimal("120"), Decimal("0.02"), 1, "EU", 30, 1, 7),
    Instrument("700.HK", "Tencent Holdings Ltd.", "KYG875721634", "HKD", Decimal("380"),
               Decimal("0.2"), 100, "HKEX", 70),
)
MARKETS: tuple[tuple[str, str, int], ...] = (
    ("FIX", "NYSE/NASDAQ", 1), ("EU", "Europe", 30), ("HKEX", "Hong Kong", 70),
)
# Units of each currency per 1 EUR.
EUR_RATES: dict[str, Decimal] = {"EUR": Decimal("1"), "USD": Decimal("1.0850"),
                                 "HKD": Decimal("8.4700"), "GBP": Decimal("0.8550")}


def find(ticker: str) -> Instrument | None:
    """The instrument with that ticker (case-insensitive), or None."""
    wanted = ticker.strip().upper()
    for instrument in CATALOGUE:
        if instrument.ticker.upper() == wanted:
            return instrument
    return None


def _noise(seed: int, key: str, index: int) -> float:
    digest = hashlib.sha256(f"{seed}:{key}:{index}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 * 2 - 1  # uniform in [-1, 1)


def quantize(value: float | Decimal, step: Decimal, rounding: str = ROUND_HALF_UP) -> Decimal:
    """Round a price to the instrument's tick."""
    units = (Decimal(str(value)) / step).quantize(Decimal(1), rounding=rounding)
    return max(units, Decimal(1)) * step


class Market:
    """Deterministic prices for the catalogue."""

    def __init__(self, seed: int) -> None:
        self.seed = seed

    def _level(self, inst: Instrument, days: float) -> float:
        phase = _noise(self.seed, inst.ticker, -1) * math.pi
        trend = 1 + 0.12 * math.sin(2 * math.pi * days / 365 + phase)
        wobble = 0.03 * math.sin(2 * math.pi * days / 23 + 2 * phase)
        return float(inst.base_price) * trend * (1 + wobble)

    def close(self, inst: Instrument, day: datetime) -> Decimal:
        """Closing price of a day."""
        index = int(day.timestamp() // 86400)
        level = self._level(inst, index) * (1 + 0.01 * _noise(self.seed, inst.ticker, index))
        return quantize(level, inst.min_step)

    def last(self, inst: Instrument, at: datetime) -> Decimal:
        """The last price at ``at`` (moves by the minute)."""
        minutes = int(at.timestamp() // 60)
        level = self._level(inst, minutes / 1440)
        return quantize(level * (1 + 0.002 * _noise(self.seed, inst.ticker, minutes)),
                        inst.min_step)

    def bid_ask(self, inst: Instrument, at: datetime) -> tuple[Decimal, Decimal]:
        """Bid and ask around the last price (at least one tick apart)."""
        last = self.last(inst, at)
        half = max(inst.min_step, quantize(last * Decimal("0.0005"), inst.min_step))
        return max(inst.min_step, last - half), last + half

    def candles(self, inst: Instrument, start: datetime,
                end: datetime) -> list[tuple[datetime, Decimal, Decimal, Decimal, Decimal, int]]:
        """Daily bars (time, open, high, low, close, volume) on weekdays in [start, end]."""
        day = datetime(start.year, start.month, start.day, tzinfo=UTC)
        out = []
        while day <= end:
            if day.weekday() < 5:
                close = self.close(inst, day)
                open_ = self.close(inst, day - timedelta(days=1))
                spread = abs(_noise(self.seed, inst.ticker + "hl", int(day.timestamp())))
                high = max(open_, close) + quantize(float(close) * 0.01 * spread, inst.min_step)
                low = max(inst.min_step,
                          min(open_, close) - quantize(float(close) * 0.01 * spread,
                                                       inst.min_step))
                volume = 100_000 + int(50_000 * (1 + _noise(self.seed, inst.ticker + "v",
                                                            int(day.timestamp()))))
                out.append((day, open_, high, low, close, volume))
            day += timedelta(days=1)
        return out
