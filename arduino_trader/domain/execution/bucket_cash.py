"""Whose cash pays for a buy: once satellites exist, every bucket spends only its own
ledger cash (its signed balances in every currency, in EUR: the measure the planner
plans each bucket with). Without satellites the ledger is not in use and the account's
cash is core's, so only the broker-cash layer applies.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal

from arduino_trader.protocols.money import ZERO

CORE = "core"


@dataclass(frozen=True)
class BucketCash:
    """The ledger cash of the bucket an order is for; ``cash_eur`` None = unknown."""

    bucket_id: str
    cash_eur: Decimal | None


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


__all__ = ["CORE", "BucketCash", "ledger_applies", "ledger_cash_eur"]
