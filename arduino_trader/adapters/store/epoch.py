"""Conversions between aware UTC datetimes and the store's epoch-seconds integers."""

from __future__ import annotations

from datetime import UTC, datetime


def to_epoch(moment: datetime | None) -> int | None:
    """``moment`` as whole epoch seconds (None stays None)."""
    return None if moment is None else int(moment.timestamp())


def from_epoch_or_none(stamp: int | None) -> datetime | None:
    """A stored epoch-seconds value as an aware UTC datetime (None stays None)."""
    return None if stamp is None else datetime.fromtimestamp(int(stamp), UTC)


def from_epoch(stamp: int) -> datetime:
    """A stored epoch-seconds value as an aware UTC datetime."""
    return datetime.fromtimestamp(int(stamp), UTC)
