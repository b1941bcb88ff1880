"""Funding a buy whose currency is short with a currency exchange (pure, exact).

A buy that fails only the cash layer because its own currency lacks the money is funded
from another currency: the exchange delivers the shortfall (the buy's costs included)
× (1 + buffer), rounded up to the cent, from one source currency with a direct pair to
the buy's currency. Sources are tried EUR first, then by the largest EUR-equivalent
surplus above the per-currency reserve; a source qualifies only when the exchange's
worst-case spend (sized by the caller at the pair's limit price, fees included) fits in
that surplus. With a batch (``fx_funding_batch_eur``) the exchange delivers more than the
buy needs — up to the batch's worth of the source's surplus — so the following buys in
that currency find the cash there and do not each pay an exchange's fixed fee; when the
batch's spend does not fit, the plain amount is tried. The reference converted the
needed amount from EUR with a 2 % buffer and float arithmetic; here the amount, the
source choice and the spend check are exact.

The exchange's journal key derives from the buy's intent key (:func:`funding_key`), so
a retried buy finds its earlier exchange instead of sending another; the buy waiting for
it is resumed by the order follow-up as :func:`funding_status` says. When no source has
a direct pair that can pay, the executor routes through EUR: a first exchange into EUR
(planned by :func:`plan_funding` with EUR as the target), then the direct one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_CEILING, Decimal
from typing import Literal

from arduino_trader.protocols.money import CENT, ZERO

from .emergency import MIN_CURRENCY_RESERVE
from .execution.journal import FINAL_STATES
from .execution.placement import RECHECK_WINDOW
from .fx_exchange import ROUTE_CURRENCY, direct_pair

MAX_FUNDING_ATTEMPTS = 3
"""A buy retries its funding exchange at most this often after ones that never filled."""

SpendOf = Callable[[str, str, Decimal], Decimal | None]
"""(source, target, amount to receive) → worst-case spend of ``source`` (fees included)
of the order that delivers at least that amount, or None when no sound order exists."""


@dataclass(frozen=True)
class Funding:
    """One exchange that funds a buy: ``receive`` of ``target`` for at most ``max_spend``
    of ``source``, which has ``surplus`` above its reserve and open buys."""

    source: str
    target: str
    shortfall: Decimal
    receive: Decimal
    max_spend: Decimal
    surplus: Decimal


def funding_prefix(intent_key: str) -> str:
    """What every funding exchange's journal key of the buy ``intent_key`` starts with."""
    return f"{intent_key}|fx-fund:"


def funding_key(intent_key: str, attempt: int = 1) -> str:
    """The journal key of the ``attempt``-th funding exchange of the buy ``intent_key``."""
    if attempt < 1:
        raise ValueError("funding attempts count from 1")
    return f"{funding_prefix(intent_key)}{attempt}"


@dataclass(frozen=True)
class FundingEntry:
    """A funding exchange's journal entry as :func:`funding_status` reads it;
    ``may_reopen``: a ``not_placed`` entry that was sent (the broker may show it late)."""

    state: str
    filled: Decimal
    created_at: datetime
    may_reopen: bool


FundingStatus = Literal["none", "pending", "filled", "unfilled"]


def funding_status(entries: Sequence[FundingEntry], now: datetime) -> FundingStatus:
    """Where a deferred buy's funding stands, from its exchanges' entries oldest first
    (each attempt or leg starts once the one before is final, so the latest decides):
    ``none`` journaled yet, ``pending`` (open, or ``not_placed`` while a late look at the
    broker may still reopen it), final and ``filled`` (in part or whole), or final with
    nothing filled (``unfilled``)."""
    if not entries:
        return "none"
    last = entries[-1]
    if last.state not in FINAL_STATES or (last.may_reopen and last.state == "not_placed"
                                          and now - last.created_at <= RECHECK_WINDOW):
        return "pending"
    return "filled" if last.filled > 0 else "unfilled"


def funding_amount(shortfall: Decimal, buffer: Decimal) -> Decimal:
    """What the exchange must deliver: shortfall × (1 + buffer), rounded up to the cent."""
    if buffer < 0:
        raise ValueError("the funding buffer must be >= 0")
    return (shortfall * (1 + buffer)).quantize(CENT, rounding=ROUND_CEILING)


def surplus(balance: Decimal, reserved: Decimal, reserve: Decimal) -> Decimal:
    """What a currency can give: balance − open buys − reserve, never below zero."""
    return max(ZERO, balance - reserved - reserve)


def source_order(target: str, balances: Mapping[str, Decimal],
                 reserved: Mapping[str, Decimal], eur_per_unit: Mapping[str, Decimal],
                 reserve: Decimal = MIN_CURRENCY_RESERVE) -> list[str]:
    """Candidate source currencies: a direct pair to ``target`` and a surplus above the
    reserve; EUR first, then by EUR-equivalent surplus, largest first (a currency
    without a known EUR rate cannot be ranked and is left out)."""
    ranked: list[tuple[Decimal, str]] = []
    for currency, balance in balances.items():
        if currency == target or direct_pair(currency, target) is None:
            continue
        spare = surplus(balance, reserved.get(currency, ZERO), reserve)
        rate = eur_per_unit.get(currency)
        if spare <= 0 or rate is None or rate <= 0:
            continue
        ranked.append((spare * rate, currency))
    ranked.sort(key=lambda r: (r[1] != ROUTE_CURRENCY, -r[0], r[1]))
    return [currency for _, currency in ranked]


def plan_funding(target: str, shortfall: Decimal, balances: Mapping[str, Decimal],
                 reserved: Mapping[str, Decimal], eur_per_unit: Mapping[str, Decimal],
                 spend_of: SpendOf, *, buffer: Decimal,
                 reserve: Decimal = MIN_CURRENCY_RESERVE,
                 batch_eur: Decimal = ZERO) -> Funding | None:
    """The first source (in :func:`source_order`) whose exchange of
    :func:`funding_amount` (raised to :func:`batch_amount` when that fits) fits in its
    surplus; None when no source can cover it."""
    if not shortfall.is_finite() or shortfall <= 0:
        return None
    needed = funding_amount(shortfall, buffer)
    for source in source_order(target, balances, reserved, eur_per_unit, reserve):
        spare = surplus(balances[source], reserved.get(source, ZERO), reserve)
        batch = batch_amount(needed, spare, source, target, eur_per_unit, batch_eur)
        for receive in dict.fromkeys((batch, needed)):
            spend = spend_of(source, target, receive)
            if spend is None or spend <= 0 or spend > spare:
                continue
            return Funding(source, target, shortfall, receive, spend, spare)
    return None


BATCH_MARGIN = Decimal("0.97")  # of the spare: room for the exchange's fee and rounding


def batch_amount(needed: Decimal, spare: Decimal, source: str, target: str,
                 eur_per_unit: Mapping[str, Decimal], batch_eur: Decimal) -> Decimal:
    """What a batched exchange delivers in ``target``: the most of ``spare`` (in
    ``source``, less a margin for the fee) up to ``batch_eur``'s worth, never less than
    ``needed``; ``needed`` when batching is off or a rate is unknown."""
    src, dst = eur_per_unit.get(source), eur_per_unit.get(target)
    if batch_eur <= 0 or not src or not dst or src <= 0 or dst <= 0:
        return needed
    spend_eur = min(spare * src * BATCH_MARGIN, batch_eur)
    return max(needed, (spend_eur / dst).quantize(CENT, rounding=ROUND_CEILING))
