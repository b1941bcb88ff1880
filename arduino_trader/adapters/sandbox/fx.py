"""FX-pair instruments of the sandbox: quoted from the sandbox's EUR rates.

A pair (``EUR/USD``, ``HKD/EUR``, ...; see domain/fx_exchange.py) is an ordinary
instrument for placing and following orders, but it has no position: a fill moves cash
in its two currencies (base ± quantity, quote ∓ quantity × price, fee in the quote
currency). Its mid price is the cross of the fixed EUR rates, with a two-tick spread.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from arduino_trader.domain.fx_exchange import FX_PAIRS, FxPair, pair_by_symbol

from .market import EUR_RATES, Instrument, find

FX_MARKET: tuple[str, int] = ("MONEY", 201)
SPREAD_TICKS = 2


def fx_instrument(pair: FxPair) -> Instrument:
    """The pair as a sandbox instrument (currency = the quote currency, lot 1)."""
    market, market_id = FX_MARKET
    return Instrument(pair.symbol, f"{pair.base}/{pair.quote} exchange", "", pair.quote,
                      mid_price(pair), pair.min_step, pair.lot, market, market_id,
                      instr_type=4, instr_kind=1)


def mid_price(pair: FxPair) -> Decimal:
    """Quote units per base unit from the EUR rates, on the pair's tick."""
    raw = EUR_RATES[pair.quote] / EUR_RATES[pair.base]
    return (raw / pair.min_step).quantize(Decimal(1), rounding=ROUND_HALF_UP) * pair.min_step


def fx_bid_ask(pair: FxPair) -> tuple[Decimal, Decimal]:
    """Bid and ask, ``SPREAD_TICKS`` ticks either side of the mid."""
    mid, half = mid_price(pair), pair.min_step * SPREAD_TICKS
    return mid - half, mid + half


def instrument(ticker: str) -> Instrument | None:
    """A catalogue instrument or an FX pair by ticker, or None."""
    found = find(ticker)
    if found is not None:
        return found
    pair = pair_by_symbol(ticker)
    return fx_instrument(pair) if pair is not None else None


def fx_pair_of(inst: Instrument) -> FxPair | None:
    """The pair behind an instrument, None for a security."""
    return pair_by_symbol(inst.ticker)


FX_INSTRUMENTS: tuple[Instrument, ...] = tuple(fx_instrument(p) for p in FX_PAIRS)
