"""The buckets port: the satellite manager's buckets, each satellite's settings, the
allocation settings and which bucket a security belongs to.

Every write is one transaction; a setting that changes other buckets (core's target
follows the satellites') is written with those buckets. The bucket ledger's money moves
are not here: they go through the satellites' ledger with their rows. The operations are
synchronous, called from the actors' own threads, and return frozen records.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from typing import Protocol

from .satellite_records import AllocationSettings, Bucket, SatelliteSettings


class BucketStore(Protocol):
    """The buckets and their settings."""

    def load_buckets(self) -> dict[str, Bucket]:
        """Every bucket by id."""
        ...

    def save_buckets(self, buckets: Iterable[Bucket]) -> None:
        """Insert or update ``buckets`` together."""
        ...

    def load_settings(self) -> dict[str, SatelliteSettings]:
        """Every satellite's settings by satellite id."""
        ...

    def save_settings(self, settings: SatelliteSettings, now: datetime) -> None:
        """Replace one satellite's settings."""
        ...

    def load_allocation(self) -> AllocationSettings:
        """The allocation settings."""
        ...

    def save_allocation_value(self, key: str, value: Decimal, now: datetime,
                              buckets: Iterable[Bucket] = ()) -> None:
        """Set one allocation setting with the bucket changes it implies."""
        ...

    def security_buckets(self) -> dict[str, str]:
        """``{symbol: bucket_id}`` of every security (core when it has no assignment)."""
        ...

    def assign_security(self, isin: str, bucket_id: str, now: datetime) -> bool:
        """Put a security in a bucket's universe (core removes the assignment); False
        when the security is unknown."""
        ...
