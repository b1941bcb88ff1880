"""Builders shared by the satellite tests."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from arduino_trader.protocols.satellite_records import Bucket, BucketStatus, new_core

T0 = datetime(2026, 1, 5, 11, 0, tzinfo=UTC)


def d(text: str) -> Decimal:
    """Decimal from text (keeps tests readable)."""
    return Decimal(text)


def satellite(bucket_id: str = "sat1", status: BucketStatus = "active", *,
              target: str = "0.05", min_pct: str = "0.02", max_pct: str = "0.15",
              hwm: str = "0", losses: int = 0) -> Bucket:
    """A satellite bucket in ``status``."""
    return Bucket(id=bucket_id, name=bucket_id.upper(), type="satellite", status=status,
                  created_at=T0, updated_at=T0, target_pct=d(target), min_pct=d(min_pct),
                  max_pct=d(max_pct), high_water_mark=d(hwm), consecutive_losses=losses)


def core(target: str = "1") -> Bucket:
    """The core bucket with ``target``."""
    return new_core(T0, Decimal(1) - d(target))
