"""The portfolio hash: one short, canonical fingerprint of what a
plan was computed for, so recommendations can be matched, refreshed and dismissed.

Canonical form: pending orders applied (buy: quantity += n and cash −= n·price in the
order's currency; sell: quantity −= n); every universe symbol with its whole quantity
(0 when not held) plus held symbols outside the universe; ``CASH.<CCY>`` for each positive
cash balance at 2 decimals; entries ``SYMBOL:QTY:allow_buy:allow_sell:min_target:
max_target:country:industry`` (cash ``CASH.X:amount``) sorted and comma-joined; SHA-256,
the first 16 hex digits (the reference's 8-hex MD5 and its colliding Go form are avoided).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Literal

HASH_HEX = 16
_CENT = Decimal("0.01")


@dataclass(frozen=True)
class HashSecurity:
    """The universe facts that change what the planner may do with a security."""

    symbol: str
    allow_buy: bool = True
    allow_sell: bool = True
    min_target: float | None = None
    max_target: float | None = None
    country: str | None = None
    industry: str | None = None


@dataclass(frozen=True)
class PendingOrder:
    """An order sent but not final: the plan must already see its effect."""

    symbol: str
    side: Literal["BUY", "SELL"]
    quantity: Decimal
    price: Decimal
    currency: str


def _num(value: float | None) -> str:
    return "" if value is None else f"{value:g}"


def _flag(value: bool) -> str:
    return "1" if value else "0"


def canonical_form(securities: Iterable[HashSecurity], positions: Mapping[str, Decimal],
                   cash: Mapping[str, Decimal], pending: Iterable[PendingOrder] = ()) -> str:
    """The sorted, comma-joined text the hash is computed over."""
    qty: dict[str, Decimal] = {s: Decimal(q) for s, q in positions.items()}
    money: dict[str, Decimal] = {c: Decimal(a) for c, a in cash.items()}
    for order in pending:
        if order.side == "BUY":
            qty[order.symbol] = qty.get(order.symbol, Decimal(0)) + order.quantity
            money[order.currency] = money.get(order.currency, Decimal(0)) \
                - order.quantity * order.price
        else:
            qty[order.symbol] = qty.get(order.symbol, Decimal(0)) - order.quantity
    entries: list[str] = []
    seen: set[str] = set()
    for sec in securities:
        if sec.symbol in seen:
            continue
        seen.add(sec.symbol)
        whole = int(qty.get(sec.symbol, Decimal(0)))
        entries.append(":".join((sec.symbol, str(whole), _flag(sec.allow_buy),
                                 _flag(sec.allow_sell), _num(sec.min_target),
                                 _num(sec.max_target), sec.country or "", sec.industry or "")))
    for symbol, q in qty.items():
        if symbol not in seen and int(q) != 0:
            entries.append(f"{symbol}:{int(q)}:1:1::::")
    for currency, amount in money.items():
        rounded = amount.quantize(_CENT, rounding=ROUND_HALF_UP)
        if rounded > 0:
            entries.append(f"CASH.{currency}:{rounded}")
    return ",".join(sorted(entries))


def portfolio_hash(securities: Iterable[HashSecurity], positions: Mapping[str, Decimal],
                   cash: Mapping[str, Decimal], pending: Iterable[PendingOrder] = ()) -> str:
    """SHA-256 of the canonical form, first 16 hex digits."""
    text = canonical_form(securities, positions, cash, pending)
    return hashlib.sha256(text.encode()).hexdigest()[:HASH_HEX]


__all__ = ["HASH_HEX", "HashSecurity", "PendingOrder", "canonical_form", "portfolio_hash"]
