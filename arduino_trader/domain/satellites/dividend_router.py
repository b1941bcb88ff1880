"""The dividend router (spec §1.12): which bucket a dividend credits.

Called exactly once per dividend cash flow. ``send_to_core`` credits core directly (the
reference *transferred* from the satellite, moving money the dividend never brought).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Literal

from .balances import credit_dividend
from .records import CORE_ID, Bucket, DividendHandling, LedgerEntry, SatelliteSettings


@dataclass(frozen=True)
class DividendRoute:
    """Where one dividend goes, with the ledger entry that credits it."""

    source_bucket: str
    destination_bucket: str
    amount: Decimal
    currency: str
    action: Literal["kept", "transferred"]
    dividend_handling: DividendHandling | None
    entries: tuple[LedgerEntry, ...]


def owning_bucket(positions: Iterable[tuple[str, str]], symbol: str) -> str:
    """Bucket of the first position ``(symbol, bucket_id)`` in ``symbol``; core if none."""
    for held, bucket_id in positions:
        if held == symbol:
            return bucket_id or CORE_ID
    return CORE_ID


def route_dividend(owner_id: str, amount: Decimal, currency: str, symbol: str,
                   source_id: str, now: datetime, *, buckets: Mapping[str, Bucket],
                   settings: Mapping[str, SatelliteSettings]) -> DividendRoute:
    """Route a dividend of ``symbol`` owned by ``owner_id``.

    Unknown, retired or core owner → core; a satellite without settings → send_to_core;
    ``send_to_core`` → credit core; ``reinvest_same``/``accumulate_cash`` → credit the
    satellite.
    """
    owner = buckets.get(owner_id)
    handling: DividendHandling | None = None
    destination = CORE_ID
    if owner is not None and not owner.is_core and owner.status != "retired":
        own = settings.get(owner_id)
        handling = own.dividend_handling if own is not None else "send_to_core"
        if handling != "send_to_core":
            destination = owner_id
    source = owner_id if owner is not None else CORE_ID
    entries = credit_dividend(destination, amount, currency, source_id, now,
                              f"dividend {symbol} ({source})")
    return DividendRoute(source_bucket=source, destination_bucket=destination,
                         amount=entries[0].amount, currency=currency,
                         action="kept" if destination == source else "transferred",
                         dividend_handling=handling, entries=entries)
