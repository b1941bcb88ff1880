"""Cash-flow events and messages.

Published by the cash-flow actor after the record and its effects are committed, so a
subscriber never sees money that is not in the ledger. Money is exact ``Decimal``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal


@dataclass(frozen=True)
class DepositReceived:
    """A deposit was stored and allocated; ``allocations`` are (bucket, amount) in the
    deposit's own currency and sum to ``amount`` exactly."""

    key: str
    amount: Decimal
    currency: str
    amount_eur: Decimal
    on: date
    allocations: tuple[tuple[str, Decimal], ...]


@dataclass(frozen=True)
class DividendReceived:
    """A dividend or coupon was stored and credited; ``allocations`` are (bucket,
    amount) in the dividend's own currency, one per bucket holding the security (its
    share of the shares held), and sum to ``amount`` exactly."""

    key: str
    symbol: str
    amount: Decimal
    currency: str
    amount_eur: Decimal
    on: date
    allocations: tuple[tuple[str, Decimal], ...]


@dataclass(frozen=True)
class WithdrawalRecorded:
    """A completed withdrawal debited core (``amount`` is negative: an outflow)."""

    key: str
    amount: Decimal
    currency: str
    amount_eur: Decimal
    on: date


@dataclass(frozen=True)
class CheckBalances:
    """Ask the cash-flow actor for the negative/thin balance check of the
    broker's account; the reply is a ``dict`` (the rebalancing endpoint's answer)."""
