"""Whose cash pays for a buy: once satellites exist, every bucket spends only its own
ledger cash (its signed balances in every currency, in EUR: the measure the planner
plans each bucket with). Without satellites the ledger is not in use and the account's
cash is core's, so only the broker-cash layer applies.

A buy is settled in its bucket's ledger only when it fills, so the cash a bucket can still
spend is its ledger cash less what its open buys (journaled, not final) will spend at
their limit: two buys sent one after the other never spend the same cash twice.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal

from arduino_trader.protocols.money import ZERO
from arduino_trader.protocols.order_journal import OpenBuy

CORE = "core"


@dataclass(frozen=True)
class BucketCash:
    """The ledger cash of the bucket an order is for; ``cash_eur`` None = unknown."""

    bucket_id: str
    cash_eur: Decimal | None
    committed_eur: Decimal = ZERO
    """What the bucket's open buys will still spend (EUR, at their limit)."""


def committed_eur(open_buys: Iterable[OpenBuy], bucket_id: str,
                  eur_per: Mapping[str, Decimal]) -> Decimal | None:
    """Σ quantity × limit price in EUR over ``bucket_id``'s open buys; None when one is in
    a currency without a rate (never 1:1)."""
    total = ZERO
    for buy in open_buys:
        if buy.bucket_id != bucket_id or buy.quantity <= 0:
            continue
        rate = eur_per.get(buy.currency)
        if rate is None or rate <= 0:
            return None
        total += buy.quantity * buy.limit_price * rate
    return total


def ledger_applies(bucket_ids: Iterable[str]) -> bool:
    """Whether buckets pay from their own ledger cash: some bucket other than core exists."""
    return any(b != CORE for b in bucket_ids)


def ledger_cash_eur(balances: Mapping[str, Decimal],
                    eur_per: Mapping[str, Decimal]) -> Decimal | None:
    """Σ balance × EUR per unit over a bucket's currencies; None when a currency with a
    non-zero balance has no rate (never 1:1)."""
    total = ZERO
    for currency, amount in balances.items():
        if not amount:
            continue
        rate = eur_per.get(currency)
        if rate is None or rate <= 0:
            return None
        total += amount * rate
    return total


__all__ = ["CORE", "BucketCash", "OpenBuy", "committed_eur", "ledger_applies",
           "ledger_cash_eur"]
