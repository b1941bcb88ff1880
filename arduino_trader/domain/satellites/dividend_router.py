"""The dividend router: which bucket a dividend credits.

Called exactly once per dividend cash flow. ``send_to_core`` credits core directly (the
reference *transferred* from the satellite, moving money the dividend never brought).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Literal

from arduino_trader.protocols.satellite_records import (
    CORE_ID,
    Bucket,
    DividendHandling,
    LedgerEntry,
    SatelliteSettings,
)

from .balances import credit_dividend


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


def destination(owner_id: str, buckets: Mapping[str, Bucket],
                settings: Mapping[str, SatelliteSettings]
                ) -> tuple[str, DividendHandling | None]:
    """(destination bucket, handling applied) for a dividend owned by ``owner_id``."""
    owner = buckets.get(owner_id)
    if owner is None or owner.is_core or owner.status == "retired":
        return CORE_ID, None
    own = settings.get(owner_id)
    handling: DividendHandling = own.dividend_handling if own is not None else "send_to_core"
    return (CORE_ID if handling == "send_to_core" else owner_id), handling


def income_destinations(positions: Iterable[tuple[str, str]], buckets: Mapping[str, Bucket],
                        settings: Mapping[str, SatelliteSettings]) -> dict[str, str]:
    """{symbol: destination bucket} for every held symbol (first position wins) — the
    ``income_bucket`` map the cash-flow effects take; unlisted symbols go to core."""
    out: dict[str, str] = {}
    for symbol, bucket_id in positions:
        if symbol not in out:
            out[symbol] = destination(bucket_id or CORE_ID, buckets, settings)[0]
    return out


def route_dividend(owner_id: str, amount: Decimal, currency: str, symbol: str,
                   source_id: str, now: datetime, *, buckets: Mapping[str, Bucket],
                   settings: Mapping[str, SatelliteSettings]) -> DividendRoute:
    """Route a dividend of ``symbol`` owned by ``owner_id``.

    ``source_id`` is the dividend's cash-flow key. Unknown, retired or core owner →
    core; a satellite without settings → send_to_core; ``send_to_core`` → credit core;
    ``reinvest_same``/``accumulate_cash`` → credit the satellite.
    """
    owner = buckets.get(owner_id)
    destination_id, handling = destination(owner_id, buckets, settings)
    source = owner_id if owner is not None else CORE_ID
    entries = credit_dividend(destination_id, amount, currency, source_id, now,
                              f"dividend {symbol} ({source})")
    return DividendRoute(source_bucket=source, destination_bucket=destination_id,
                         amount=entries[0].amount, currency=currency,
                         action="kept" if destination_id == source else "transferred",
                         dividend_handling=handling, entries=entries)
