"""Where the paper broker reads prices: the price-source protocols, the prices set in
``paper_prices`` (:class:`StoredPrices`), the market-data port's quotes and rates off the
loop (:class:`MarketDataPrices`), the slippage a fill pays and the FX tick."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal
from typing import Any, Protocol, TypeVar, runtime_checkable

from arduino_trader.domain.fx_exchange import FxPair, pair_by_symbol
from arduino_trader.protocols.market_data import MarketData, MarketDataError
from arduino_trader.protocols.store import Database

T = TypeVar("T")


class PriceSource(Protocol):
    """Where the paper broker reads market prices: (price, currency) or None."""

    async def price(self, symbol: str) -> tuple[Decimal, str] | None:
        """The current price of ``symbol``, or None if unknown."""
        ...

    async def prices(self, symbols: Sequence[str]) -> dict[str, tuple[Decimal, str]]:
        """The current prices of those ``symbols`` it knows, in one look-up."""
        ...


@runtime_checkable
class FillPriceSource(Protocol):
    """A price source that also knows where an order placed now fills (the next price
    not yet seen); without it, orders fill at the current price."""

    async def fill_price(self, symbol: str) -> tuple[Decimal, str] | None:
        """The price an order for ``symbol`` placed now fills at, or None if unknown."""
        ...


BPS = Decimal("0.0001")
PRICE_STEP = Decimal("0.01")  # the stocks' tick: a fill's value stays in whole cents


def slipped(price: Decimal, side: str, bps: Decimal) -> Decimal:
    """``price`` moved ``bps`` basis points against the order (a buy pays more, a sell
    receives less), on the tick and rounded against the order too, so the fill's value
    is whole cents like the ledger's; never below one tick."""
    factor = Decimal(1) + bps * BPS if side == "BUY" else Decimal(1) - bps * BPS
    rounding = ROUND_CEILING if side == "BUY" else ROUND_FLOOR
    return max(PRICE_STEP, (price * factor).quantize(PRICE_STEP, rounding=rounding))


class StoredPrices:
    """Prices in ``paper_prices`` (set with :meth:`PaperBroker.set_price`)."""

    def __init__(self, store: Database) -> None:
        self.store = store

    async def price(self, symbol: str) -> tuple[Decimal, str] | None:
        """The stored price of ``symbol``."""
        return (await self.prices((symbol,))).get(symbol)

    async def prices(self, symbols: Sequence[str]) -> dict[str, tuple[Decimal, str]]:
        """The stored prices of ``symbols``."""
        if not symbols:
            return {}
        marks = ", ".join("?" * len(symbols))
        rows = await asyncio.to_thread(
            self.store.fetch_all,
            f"SELECT symbol, price, currency FROM paper_prices WHERE symbol IN ({marks})",  # noqa: S608
            tuple(symbols))
        return {r["symbol"]: (Decimal(r["price"]), str(r["currency"])) for r in rows}


def marketable(symbol: str, side: str, limit: Decimal | None, price: Decimal) -> bool:
    """Whether an order (``limit`` None: a market order) fills at ``price``. For an FX
    pair the side counts in market terms: receiving the base pays the ask like a buy."""
    if limit is None:
        return True
    pair = pair_by_symbol(symbol)
    if pair is not None:
        side = "BUY" if pair.receives_base("BUY" if side == "BUY" else "SELL") else "SELL"
    return limit >= price if side == "BUY" else limit <= price


def on_tick(pair: FxPair, price: Decimal) -> Decimal:
    """A cross rate rounded to the pair's tick, so fills and cash stay short and exact."""
    return (price / pair.min_step).quantize(Decimal(1), rounding=ROUND_HALF_UP) * pair.min_step


class MarketDataPrices:
    """Prices for the paper broker from the (blocking) market-data port, off the loop.

    EUR rates seen while pricing are cached, so fees convert their fixed EUR part; a
    currency never priced yet pays the fixed part in raw EUR (the costs' fallback
    when no rate is known).
    """

    def __init__(self, source: MarketData) -> None:
        self.source = source
        self._rates: dict[str, Decimal] = {"EUR": Decimal(1)}

    async def _ask(self, call: Callable[..., T], *args: Any) -> T:
        """``call(*args)`` on a worker thread; directly when the source says it answers
        from memory (``in_memory``: a loaded replay), where the thread hop would cost
        more than the answer."""
        if getattr(self.source, "in_memory", False):
            return call(*args)
        return await asyncio.to_thread(call, *args)

    async def price(self, symbol: str) -> tuple[Decimal, str] | None:
        """The source's latest quote of ``symbol``; an FX pair from the source's rates."""
        return (await self.prices((symbol,))).get(symbol)

    async def prices(self, symbols: Sequence[str]) -> dict[str, tuple[Decimal, str]]:
        """The source's latest quotes of ``symbols`` in one call off the loop; FX pairs
        from the source's rates."""
        out: dict[str, tuple[Decimal, str]] = {}
        securities = []
        for symbol in symbols:
            pair = pair_by_symbol(symbol)
            if pair is None:
                securities.append(symbol)
            elif (priced := await self._pair_price(pair)) is not None:
                out[symbol] = priced
        if not securities:
            return out
        try:
            quotes = await self._ask(self.source.quotes, securities)
        except MarketDataError:
            return out
        for symbol in securities:
            quote = quotes.get(symbol)
            if quote is None or not quote.price > 0:
                continue
            if quote.currency not in self._rates:
                try:
                    fx = await self._ask(self.source.fx_rate, quote.currency)
                    if fx.eur_per > 0:
                        self._rates[quote.currency] = Decimal(1) / fx.eur_per
                except MarketDataError:
                    pass
            out[symbol] = (Decimal(repr(quote.price)), quote.currency)
        return out

    async def fill_price(self, symbol: str) -> tuple[Decimal, str] | None:
        """Where an order placed now fills: the source's next price when it has one
        (``next_quotes``: a replay's first close not yet published), else its latest."""
        nxt = getattr(self.source, "next_quotes", None)
        if nxt is None or pair_by_symbol(symbol) is not None:
            return await self.price(symbol)
        try:
            quote = (await self._ask(nxt, [symbol])).get(symbol)
        except MarketDataError:
            return None
        if quote is None or not quote.price > 0:
            return None
        await self.prices((symbol,))  # learns the currency's EUR rate for the fixed fee
        return Decimal(repr(quote.price)), quote.currency

    async def _pair_price(self, pair: FxPair) -> tuple[Decimal, str] | None:
        """Quote units per base unit from the EUR values of both currencies."""
        eur_per: dict[str, Decimal] = {}
        for currency in (pair.base, pair.quote):
            if currency == "EUR":
                eur_per[currency] = Decimal(1)
                continue
            try:
                fx = await self._ask(self.source.fx_rate, currency)
            except MarketDataError:
                return None
            if not fx.eur_per > 0:
                return None
            eur_per[currency] = fx.eur_per
            self._rates[currency] = Decimal(1) / fx.eur_per
        return on_tick(pair, eur_per[pair.base] / eur_per[pair.quote]), pair.quote

    def rates(self) -> dict[str, Decimal]:
        """Units of each currency per 1 EUR, as far as known."""
        return dict(self._rates)
