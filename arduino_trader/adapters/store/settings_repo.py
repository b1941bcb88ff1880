"""The settings port on the SQLite store: ``settings_overrides`` and ``audit_log``."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from arduino_trader.protocols.settings_store import AuditEntry, StoredOverride
from arduino_trader.protocols.store import Database, Transaction

_UPSERT = ("INSERT INTO settings_overrides (key, value, encrypted, updated_at) "
           "VALUES (?, ?, ?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value, "
           "encrypted = excluded.encrypted, updated_at = excluded.updated_at")
_AUDIT = "INSERT INTO audit_log (at, actor, action, detail) VALUES (?, ?, ?, ?)"


def _audit(tx: Transaction, entry: AuditEntry, at: int) -> None:
    tx.execute(_AUDIT, (at, entry.actor, entry.action, entry.detail))


class SqliteSettingsStore:
    """Runtime overrides on the SQLite store (see :class:`SettingsStore`)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def overrides(self) -> tuple[StoredOverride, ...]:
        """Every stored override, by key."""
        rows = self._db.fetch_all(
            "SELECT key, value, encrypted FROM settings_overrides ORDER BY key")
        return tuple(StoredOverride(str(r["key"]), str(r["value"]), bool(r["encrypted"]))
                     for r in rows)

    def write(self, overrides: Sequence[StoredOverride], audit: AuditEntry,
              at: datetime) -> None:
        """Insert or replace ``overrides`` and record ``audit``, in one transaction."""
        stamp = int(at.timestamp())
        with self._db.transaction() as tx:
            for item in overrides:
                tx.execute(_UPSERT, (item.key, item.value, int(item.encrypted), stamp))
            _audit(tx, audit, stamp)

    def remove(self, key: str, audit: AuditEntry, at: datetime) -> bool:
        """Delete the override of ``key`` and record ``audit``, in one transaction."""
        stamp = int(at.timestamp())
        with self._db.transaction() as tx:
            removed = tx.execute("DELETE FROM settings_overrides WHERE key = ?",
                                 (key,)).rowcount > 0
            if removed:
                _audit(tx, audit, stamp)
        return removed


__all__ = ["SqliteSettingsStore"]
