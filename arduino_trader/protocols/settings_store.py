"""The settings port: the repository of runtime overrides and their audit trail.

An override is stored as text: the setting's JSON value, or, for a write-only secret,
the encrypted token (``encrypted``). Every change is one transaction that writes the
overrides and the audit row together, so a failed write changes nothing and nothing
changes unaudited. The operations are synchronous and return frozen records only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol

AuditAction = Literal["setting", "trading_mode", "setting_reset"]


@dataclass(frozen=True)
class StoredOverride:
    """One runtime override as stored."""

    key: str
    value: str
    """The JSON text of the value, or the encrypted token when ``encrypted``."""
    encrypted: bool = False


@dataclass(frozen=True)
class AuditEntry:
    """Who changed settings, how, and what (``detail``: JSON text; never a secret)."""

    actor: str
    action: AuditAction
    detail: str


class SettingsStore(Protocol):
    """Where the daemon keeps runtime overrides (see the module's docstring)."""

    def overrides(self) -> tuple[StoredOverride, ...]:
        """Every stored override, by key."""
        ...

    def write(self, overrides: Sequence[StoredOverride], audit: AuditEntry,
              at: datetime) -> None:
        """Insert or replace ``overrides`` and record ``audit``, in one transaction."""
        ...

    def remove(self, key: str, audit: AuditEntry, at: datetime) -> bool:
        """Delete the override of ``key`` and record ``audit``, in one transaction;
        False (and nothing written) when there was none."""
        ...


__all__ = ["AuditAction", "AuditEntry", "SettingsStore", "StoredOverride"]
