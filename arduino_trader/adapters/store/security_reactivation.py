"""Adding a security that was soft-deleted brings it back instead of refusing it."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from arduino_trader.protocols.store import Database

from . import securities_repo

_OVERRIDABLE = ("name", "yahoo_symbol", "min_lot", "allow_buy", "allow_sell")


def reactivate(db: Database, existing: Mapping[str, Any],
               overrides: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    """Re-activate the soft-deleted ``existing`` security with the caller's overrides;
    :class:`~securities_repo.DuplicateSecurity` when it is still active."""
    if existing["active"]:
        raise securities_repo.DuplicateSecurity(f"already in the universe: {existing['symbol']} "
                                                f"({existing['isin']})")
    fields: dict[str, Any] = {"active": 1}
    fields.update({k: overrides[k] for k in _OVERRIDABLE if overrides.get(k) is not None})
    securities_repo.update_security(db, existing["isin"], fields, now)
    stored = securities_repo.get_security(db, existing["isin"])
    assert stored is not None  # read back in the same store
    return stored
