"""Reads of the buckets (planner configuration)."""

from __future__ import annotations

from .connection import Reader


async def bucket_exists(db: Reader, bucket_id: str) -> bool:
    """Whether a bucket (core or a satellite) has this id."""
    return await db.fetch_one("SELECT 1 FROM buckets WHERE id = ?", (bucket_id,)) is not None
