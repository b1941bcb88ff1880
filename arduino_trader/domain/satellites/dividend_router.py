"""The dividend router: which buckets a dividend credits.

A dividend of a security held by several buckets is shared by them in proportion to the
shares each holds (the cash-flow effects split it once, in cents). A satellite's share
goes where its ``dividend_handling`` says: ``send_to_core`` credits core directly
(never a transfer out of the satellite, which would move money the dividend never
brought); ``reinvest_same``/``accumulate_cash`` credit the satellite.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from decimal import Decimal

from arduino_trader.domain.cash_flows.pro_rata import Shares
from arduino_trader.protocols.money import ZERO
from arduino_trader.protocols.satellite_records import (
    CORE_ID,
    Bucket,
    DividendHandling,
    LedgerEntry,
    SatelliteSettings,
)

from .balances import credit_dividend


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


def holder_shares(positions: Mapping[str, Mapping[str, Decimal]]) -> dict[str, Shares]:
    """{symbol: ((bucket, quantity), ...)} of every bucket holding a positive quantity,
    core first then by bucket id: what a maturity is split over."""
    out: dict[str, list[tuple[str, Decimal]]] = {}
    for bucket_id in sorted(positions, key=lambda b: (b != CORE_ID, b)):
        for symbol, quantity in sorted(positions[bucket_id].items()):
            if quantity > 0:
                out.setdefault(symbol, []).append((bucket_id or CORE_ID, quantity))
    return {symbol: tuple(shares) for symbol, shares in out.items()}


def income_shares(positions: Mapping[str, Mapping[str, Decimal]],
                  buckets: Mapping[str, Bucket],
                  settings: Mapping[str, SatelliteSettings]) -> dict[str, Shares]:
    """{symbol: ((destination bucket, quantity), ...)}: each holder's quantity sent where
    its ``dividend_handling`` sends income (a satellite that sends to core adds to core's
    share). The cash-flow effects split a dividend over these pro rata; a symbol no
    bucket holds goes wholly to core."""
    out: dict[str, Shares] = {}
    for symbol, holders in holder_shares(positions).items():
        merged: dict[str, Decimal] = {}
        for bucket_id, quantity in holders:
            target = destination(bucket_id, buckets, settings)[0]
            merged[target] = merged.get(target, ZERO) + quantity
        out[symbol] = tuple(merged.items())
    return out


def dividend_entries(allocations: Iterable[tuple[str, Decimal]], currency: str,
                     symbol: str, source_id: str, now: datetime) -> tuple[LedgerEntry, ...]:
    """The ledger rows of a dividend already split (``DividendReceived.allocations``),
    keyed like the cash-flow domain's own rows for the same record."""
    return tuple(entry for bucket_id, amount in allocations if amount > 0
                 for entry in credit_dividend(bucket_id, amount, currency, source_id, now,
                                              f"dividend {symbol}"))
