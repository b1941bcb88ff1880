"""The sandbox's clock on the wire: naive ``YYYY-MM-DDThh:mm:ss`` in Moscow time, as the
broker writes its times (market hours are published in MSK)."""

from __future__ import annotations

from datetime import datetime

from arduino_trader.adapters.tradernet.fields import BROKER_TZ

__all__ = ["BROKER_TZ", "broker_time", "from_broker_time"]


def broker_time(at: datetime) -> str:
    """``at`` (aware) as the broker writes it: Moscow wall time, no zone."""
    return at.astimezone(BROKER_TZ).strftime("%Y-%m-%dT%H:%M:%S")


def from_broker_time(text: str) -> datetime:
    """A stamp written by :func:`broker_time` (or any ISO time) as an aware datetime."""
    parsed = datetime.fromisoformat(text)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=BROKER_TZ)
