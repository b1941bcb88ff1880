"""The safety layers of a currency exchange (one FX-pair order), pure.

An exchange is not a security trade: the universe, lot, cooldown, hold, loss-breaker,
guardrail and stock market-hours layers do not apply. What does, in this order (first
failure wins, unknown blocks): mode (live needs ``trading_mode`` live; the kill switch
sets research) → FX market hours (weekdays) → quote (both sides fresh) → order (sized
exactly from the quote, domain/fx_exchange.py) → amount (at most the configured EUR
value) → cash (the paid currency covers the order's worst case after open buys) →
pending (no open order on the pair, no unresolved journal entry). A negative balance
elsewhere never blocks an exchange: repairing one is what exchanges are for.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from arduino_trader.domain.fx_exchange import FxError, FxOrder, FxPair, fx_market_open
from arduino_trader.protocols.money import ZERO

from .facts import OpenOrderFact
from .safety_types import Rejection, Verdict

BuildOrder = Callable[[Decimal | None, Decimal | None], FxOrder]
"""Sizes the order from (bid, ask); raises :class:`FxError` when none is sound."""


@dataclass(frozen=True)
class FxFacts:
    """What is known when an exchange is decided; ``None`` = unknown."""

    now: datetime
    trading_mode: str | None
    pair: FxPair
    bid: Decimal | None
    ask: Decimal | None
    quoted_at: datetime | None
    cash: Mapping[str, Decimal] | None
    open_orders: tuple[OpenOrderFact, ...] | None
    unresolved_isins: frozenset[str] | None
    eur_per_unit: Mapping[str, Decimal]
    """EUR value of one unit of each currency whose rate is known."""
    min_step: Decimal | None = None
    """The broker's tick for the pair, when its quote names one."""


@dataclass(frozen=True)
class FxLimits:
    """Settings the exchange layers apply."""

    max_exchange_eur: Decimal
    max_quote_age: timedelta = timedelta(minutes=15)


def _mode(f: FxFacts, simulate: bool) -> Rejection | None:
    if simulate or f.trading_mode == "live":
        return None
    return Rejection("mode", "mode_not_live", f"trading mode is {f.trading_mode or 'unknown'}"
                     ": orders need live mode", "forbidden")


def _hours(f: FxFacts) -> Rejection | None:
    if not fx_market_open(f.now.weekday()):
        return Rejection("market_hours", "fx_market_closed",
                         f"the FX market is closed on {f.now:%A}s")
    return None


def _quote(f: FxFacts, limits: FxLimits) -> Rejection | None:
    if f.bid is None or f.ask is None or f.quoted_at is None or f.bid <= 0 or f.ask <= 0:
        return Rejection("price", "price_missing", f"no usable quote for {f.pair.symbol}")
    if f.bid > f.ask:
        return Rejection("price", "price_crossed", f"{f.pair.symbol} bid {f.bid} is above "
                         f"the ask {f.ask}")
    age = f.now - f.quoted_at
    if age > limits.max_quote_age:
        return Rejection("price", "price_stale", f"{f.pair.symbol} quote is "
                         f"{int(age.total_seconds())} s old (limit "
                         f"{int(limits.max_quote_age.total_seconds())} s)")
    return None


def _amount(order: FxOrder, f: FxFacts, limits: FxLimits) -> Rejection | None:
    rate = f.eur_per_unit.get(order.source)
    if rate is None or rate <= 0:
        return Rejection("amount", "fx_rate_missing", f"no EUR rate for {order.source}: the "
                         "exchange's size cannot be checked")
    value_eur = order.max_spend * rate
    if value_eur > limits.max_exchange_eur:
        return Rejection("amount", "fx_amount_too_large", f"spends up to {value_eur:.2f} EUR "
                         f"(limit {limits.max_exchange_eur} EUR per exchange)")
    return None


def _cash(order: FxOrder, f: FxFacts) -> Rejection | None:
    if f.cash is None:
        return Rejection("cash", "cash_unknown", "cash balances unknown")
    if f.open_orders is None:
        return Rejection("cash", "open_orders_unknown", "open orders unknown")
    reserved = sum((o.quantity * (o.price or ZERO) for o in f.open_orders
                    if o.side == "BUY" and o.currency == order.source), ZERO)
    available = f.cash.get(order.source, ZERO) - reserved
    if available < order.max_spend:
        return Rejection("cash", "insufficient_cash", f"needs up to {order.max_spend:.2f} "
                         f"{order.source} (fees included), {available:.2f} available after "
                         f"{reserved:.2f} reserved by open buys")
    return None


def _pending(f: FxFacts) -> Rejection | None:
    if f.open_orders is None or f.unresolved_isins is None:
        return Rejection("pending", "pending_unknown", "open orders cannot be checked",
                         "conflict")
    if f.pair.journal_isin in f.unresolved_isins:
        return Rejection("pending", "unresolved_order", f"an earlier {f.pair.symbol} order "
                         "is not final yet", "conflict")
    for o in f.open_orders:
        if o.symbol.upper() == f.pair.symbol.upper():
            return Rejection("pending", "pending_order", f"an open {o.side} order for "
                             f"{o.symbol} exists", "conflict")
    return None


def evaluate_exchange(facts: FxFacts, limits: FxLimits, build: BuildOrder, *,
                      simulate: bool = False, skip: frozenset[str] = frozenset()
                      ) -> tuple[Verdict, FxOrder | None]:
    """Run the exchange layers in order; the order is sized once the quote passed.
    ``skip`` names layers not to run (the second leg of a route through EUR is sized
    before the first delivered its cash; it runs every layer when it is sent)."""
    checked: list[str] = []

    def stop(rejection: Rejection) -> tuple[Verdict, FxOrder | None]:
        return Verdict(rejection, (), tuple(checked)), None

    for name, check in (("mode", lambda: _mode(facts, simulate)),
                        ("market_hours", lambda: _hours(facts)),
                        ("price", lambda: _quote(facts, limits))):
        checked.append(name)
        rejection = check()
        if rejection is not None:
            return stop(rejection)
    checked.append("order")
    try:
        order = build(facts.bid, facts.ask)
    except FxError as exc:
        return stop(Rejection("order", "fx_order", str(exc), "invalid"))
    for name, layer in (("amount", lambda: _amount(order, facts, limits)),
                        ("cash", lambda: _cash(order, facts)),
                        ("pending", lambda: _pending(facts))):
        if name in skip:
            continue
        checked.append(name)
        rejection = layer()
        if rejection is not None:
            return stop(rejection)
    return Verdict(None, (), tuple(checked)), order
