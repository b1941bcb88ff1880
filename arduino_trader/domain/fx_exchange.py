"""Currency exchange through FX-pair instruments (pure, exact ``Decimal``).

On Tradernet a currency is exchanged by an ordinary cash order on a pair instrument of
the MONEY market. A pair ``BASE/QUOTE`` quotes the price of one unit of its *base*
currency in its *quote* currency, an order's quantity is a whole number of *base* units,
and the sides follow the forex convention: BUY receives the base and pays the quote,
SELL pays the base and receives the quote (:data:`FX_PAIRS`). The reference first used
the ``..._T0.ITS`` instruments, whose sides were inverted and which had no volume; its
later table moved to these pairs with the standard convention, as here.

GBP <-> HKD has no pair and is routed through EUR (two legs). The fee is charged in the
quote currency. Every order is sized at its *limit* price, the worst price it can fill
at, so its guarantees hold whatever the fill: :func:`order_to_receive` delivers at least
the asked amount of the target currency, :func:`order_to_spend` spends at most the given
amount of the source currency (fees included in both). The reference sized every order
as ``int(amount)`` of the *source* currency whatever the direction, with floats
[REF-BUG]; here the quantity is always in base units.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Literal

from arduino_trader.protocols.broker import MAX_ORDER_QUANTITY, Side
from arduino_trader.protocols.money import CENT, ZERO

FX_ISIN_PREFIX = "FX:"
"""Journal entries of pair orders carry ``FX:<symbol>`` where a security has its ISIN."""
ROUTE_CURRENCY = "EUR"
MAX_LIMIT_BUFFER = Decimal("0.05")


class FxError(ValueError):
    """No sound exchange order exists for these inputs (the message says why)."""


class UnsupportedPair(FxError):
    """No pair instrument, direct or through EUR, connects the two currencies."""


@dataclass(frozen=True)
class FxPair:
    """One pair instrument: price = units of ``quote`` per 1 ``base``; quantities count
    base units; a BUY delivers the base currency, a SELL the quote currency."""

    symbol: str
    base: str
    quote: str
    min_step: Decimal
    lot: int = 1

    @property
    def journal_isin(self) -> str:
        """The identifier journal entries of this pair carry in the ISIN column."""
        return FX_ISIN_PREFIX + self.symbol

    def receives_base(self, side: Side) -> bool:
        """True when an order of ``side`` delivers the base currency (and pays quote)."""
        return side == "BUY"

    def side_to_receive(self, target: str) -> Side:
        """The side whose order delivers ``target``."""
        if target not in (self.base, self.quote):
            raise UnsupportedPair(f"{self.symbol} does not deliver {target}")
        return "BUY" if target == self.base else "SELL"

    def currencies(self, side: Side) -> tuple[str, str]:
        """(paid, received) currency of an order of ``side``."""
        if self.receives_base(side):
            return self.quote, self.base
        return self.base, self.quote


FX_PAIRS: tuple[FxPair, ...] = (
    FxPair("EUR/USD", "EUR", "USD", Decimal("0.0001")),
    FxPair("EUR/GBP", "EUR", "GBP", Decimal("0.0001")),
    FxPair("GBP/USD", "GBP", "USD", Decimal("0.0001")),
    FxPair("HKD/EUR", "HKD", "EUR", Decimal("0.00001")),
    FxPair("HKD/USD", "HKD", "USD", Decimal("0.00001")),
)
_BY_SYMBOL: dict[str, FxPair] = {p.symbol.upper(): p for p in FX_PAIRS}


def pair_by_symbol(symbol: str) -> FxPair | None:
    """The pair traded under ``symbol`` (case-insensitive), or None for anything else."""
    return _BY_SYMBOL.get(symbol.strip().upper())


def is_fx_symbol(symbol: str) -> bool:
    """True for a pair instrument's symbol."""
    return pair_by_symbol(symbol) is not None


def pair_from_journal_isin(isin: str) -> FxPair | None:
    """The pair of a journal entry whose ISIN column is ``FX:<symbol>``, else None."""
    if not isin.startswith(FX_ISIN_PREFIX):
        return None
    return pair_by_symbol(isin[len(FX_ISIN_PREFIX):])


def direct_pair(a: str, b: str) -> FxPair | None:
    """The pair instrument between two currencies, in either orientation, or None."""
    for pair in FX_PAIRS:
        if {pair.base, pair.quote} == {a, b} and a != b:
            return pair
    return None


@dataclass(frozen=True)
class Leg:
    """One order of a conversion: ``side`` on ``pair`` turns ``source`` into ``target``."""

    source: str
    target: str
    pair: FxPair

    @property
    def side(self) -> Side:
        """The side of the pair order that delivers ``target``."""
        return self.pair.side_to_receive(self.target)


def conversion_path(source: str, target: str) -> tuple[Leg, ...]:
    """The legs that turn ``source`` into ``target``: none for the same currency, one for a
    direct pair, two through EUR otherwise (GBP <-> HKD). Raises :class:`UnsupportedPair`."""
    source, target = source.upper(), target.upper()
    if source == target:
        return ()
    pair = direct_pair(source, target)
    if pair is not None:
        return (Leg(source, target, pair),)
    first = direct_pair(source, ROUTE_CURRENCY)
    second = direct_pair(ROUTE_CURRENCY, target)
    if first is None or second is None:
        raise UnsupportedPair(f"no exchange path from {source} to {target}")
    return (Leg(source, ROUTE_CURRENCY, first), Leg(ROUTE_CURRENCY, target, second))


@dataclass(frozen=True)
class FxFee:
    """The fee of a pair order in its quote currency: fixed + fraction × value, charged
    as at most ``fixed + fraction × value`` rounded up to the cent."""

    fixed: Decimal = ZERO
    fraction: Decimal = ZERO

    def __post_init__(self) -> None:
        if self.fixed < 0 or not ZERO <= self.fraction < Decimal("0.1"):
            raise FxError("fee: fixed must be >= 0 and the fraction in [0, 0.1)")

    def charge(self, value: Decimal) -> Decimal:
        """The largest fee a fill worth ``value`` (quote currency) can cost."""
        return (self.fixed + self.fraction * abs(value)).quantize(CENT, rounding=ROUND_CEILING)


def limit_price(receives_base: bool, bid: Decimal | None, ask: Decimal | None,
                buffer: Decimal, min_step: Decimal) -> Decimal:
    """A marketable limit on the pair. Receiving base (paying quote): at most
    ask × (1 + buffer), rounded down to the tick; paying base: at least
    bid × (1 − buffer), rounded up. No usable quote side means no order."""
    if not ZERO <= buffer <= MAX_LIMIT_BUFFER:
        raise FxError(f"FX limit buffer must be in [0, {MAX_LIMIT_BUFFER}], got {buffer}")
    if min_step <= 0:
        raise FxError("tick size must be positive")
    reference = ask if receives_base else bid
    if reference is None or not reference.is_finite() or reference <= 0:
        raise FxError(f"no usable {'ask' if receives_base else 'bid'} on the pair")
    if receives_base:
        ticks = (reference * (1 + buffer) / min_step).to_integral_value(ROUND_FLOOR)
    else:
        ticks = (reference * (1 - buffer) / min_step).to_integral_value(ROUND_CEILING)
    price = ticks * min_step
    if price <= 0:
        raise FxError(f"limit price rounds to {price}")
    return price


def cash_moves(pair: FxPair, side: Side, quantity: Decimal, price: Decimal,
               fee: Decimal) -> dict[str, Decimal]:
    """The exact cash change of a fill per currency: base ± quantity, quote ∓ quantity ×
    price, and the fee (in the quote currency) always paid."""
    value = quantity * price
    if pair.receives_base(side):
        return {pair.base: quantity, pair.quote: -value - fee}
    return {pair.base: -quantity, pair.quote: value - fee}


@dataclass(frozen=True)
class FxOrder:
    """A pair order with its worst-case money: at most ``max_spend`` of ``source`` leaves
    the account, at least ``min_receive`` of ``target`` arrives (fees included)."""

    pair: FxPair
    side: Side
    quantity: int
    limit_price: Decimal
    source: str
    target: str
    max_spend: Decimal
    min_receive: Decimal

    @property
    def symbol(self) -> str:
        """The pair's instrument symbol."""
        return self.pair.symbol


def _worst(pair: FxPair, side: Side, quantity: int, limit: Decimal,
           fee: FxFee) -> tuple[Decimal, Decimal]:
    """(max spend, min receive) of ``quantity`` base units at ``limit``."""
    value = quantity * limit
    if pair.receives_base(side):
        return value + fee.charge(value), Decimal(quantity)
    # A better fill is worth more, but its proportional fee can round up to one more
    # cent than the limit's: the guarantee keeps that cent back.
    slack = CENT if fee.fraction else ZERO
    return Decimal(quantity), value - fee.charge(value) - slack


def _order(leg: Leg, quantity: int, limit: Decimal, fee: FxFee) -> FxOrder:
    if quantity <= 0:
        raise FxError(f"{leg.source} -> {leg.target}: the amount is below one lot of "
                      f"{leg.pair.symbol}")
    if quantity > MAX_ORDER_QUANTITY:
        raise FxError(f"{leg.pair.symbol}: quantity {quantity} exceeds {MAX_ORDER_QUANTITY}")
    spend, receive = _worst(leg.pair, leg.side, quantity, limit, fee)
    return FxOrder(leg.pair, leg.side, quantity, limit, leg.source, leg.target, spend, receive)


def _lots_up(units: Decimal, lot: int) -> int:
    return int((units / lot).to_integral_value(ROUND_CEILING)) * lot


def _lots_down(units: Decimal, lot: int) -> int:
    return int((units / lot).to_integral_value(ROUND_FLOOR)) * lot


def _leg(source: str, target: str) -> Leg:
    path = conversion_path(source, target)
    if len(path) != 1:
        raise UnsupportedPair(f"{source} -> {target} has no direct pair: exchange each leg "
                              "of the path through EUR on its own")
    return path[0]


def order_to_receive(source: str, target: str, amount: Decimal, bid: Decimal | None,
                     ask: Decimal | None, *, buffer: Decimal, fee: FxFee = FxFee(),
                     min_step: Decimal | None = None) -> FxOrder:
    """The smallest order on the direct pair that delivers at least ``amount`` of
    ``target`` for ``source`` (fees included), sized at its limit price."""
    if not amount.is_finite() or amount <= 0:
        raise FxError(f"amount to receive must be positive, got {amount}")
    leg = _leg(source.upper(), target.upper())
    pair, side = leg.pair, leg.side
    limit = limit_price(pair.receives_base(side), bid, ask, buffer, min_step or pair.min_step)
    if pair.receives_base(side):
        quantity = _lots_up(amount, pair.lot)
    else:
        net = limit * (1 - fee.fraction)
        quantity = _lots_up((amount + fee.fixed) / net, pair.lot)
        while _worst(pair, side, quantity, limit, fee)[1] < amount:  # cent rounding of fees
            quantity += pair.lot
    return _order(leg, quantity, limit, fee)


def order_to_spend(source: str, target: str, amount: Decimal, bid: Decimal | None,
                   ask: Decimal | None, *, buffer: Decimal, fee: FxFee = FxFee(),
                   min_step: Decimal | None = None) -> FxOrder:
    """The largest order on the direct pair that spends at most ``amount`` of ``source``
    (fees included), sized at its limit price."""
    if not amount.is_finite() or amount <= 0:
        raise FxError(f"amount to spend must be positive, got {amount}")
    leg = _leg(source.upper(), target.upper())
    pair, side = leg.pair, leg.side
    limit = limit_price(pair.receives_base(side), bid, ask, buffer, min_step or pair.min_step)
    if not pair.receives_base(side):
        quantity = _lots_down(amount, pair.lot)
    else:
        gross = limit * (1 + fee.fraction)
        quantity = max(0, _lots_down((amount - fee.fixed) / gross, pair.lot))
        while quantity > 0 and _worst(pair, side, quantity, limit, fee)[0] > amount:
            quantity -= pair.lot
    return _order(leg, quantity, limit, fee)


def capped_order(source: str, target: str, receive: Decimal, spend_cap: Decimal | None,
                 bid: Decimal | None, ask: Decimal | None, *, buffer: Decimal,
                 fee: FxFee = FxFee(), min_step: Decimal | None = None) -> FxOrder:
    """At least ``receive`` of ``target`` if that costs at most ``spend_cap`` of
    ``source``; otherwise the most ``spend_cap`` buys (None = no cap)."""
    wanted = order_to_receive(source, target, receive, bid, ask, buffer=buffer, fee=fee,
                              min_step=min_step)
    if spend_cap is None or wanted.max_spend <= spend_cap:
        return wanted
    return order_to_spend(source, target, spend_cap, bid, ask, buffer=buffer, fee=fee,
                          min_step=min_step)


AmountKind = Literal["receive", "spend"]


def fx_market_open(weekday: int) -> bool:
    """The FX pairs trade on weekdays (0 = Monday); Saturday and Sunday are closed."""
    return 0 <= weekday < 5
