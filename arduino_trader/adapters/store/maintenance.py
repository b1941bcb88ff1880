"""Store upkeep: online backups with retention, integrity check, WAL size and checkpoint."""

from __future__ import annotations

import os
import shutil
import sqlite3
from datetime import datetime
from pathlib import Path
from typing import Literal

from .private_files import DIR_MODE, create_private
from .sqlite import SqliteStore, map_sqlite_error

BACKUP_PREFIX = "arduino-trader-"
BACKUP_SUFFIX = ".db"

CheckpointMode = Literal["PASSIVE", "FULL", "RESTART", "TRUNCATE"]


def backup_name(at: datetime) -> str:
    """File name of a backup taken at ``at`` (sortable, UTC, second resolution)."""
    return f"{BACKUP_PREFIX}{at.strftime('%Y%m%dT%H%M%SZ')}{BACKUP_SUFFIX}"


def list_backups(backups_dir: Path) -> list[Path]:
    """Backups in ``backups_dir``, oldest first."""
    if not backups_dir.is_dir():
        return []
    return sorted(p for p in backups_dir.glob(f"{BACKUP_PREFIX}*{BACKUP_SUFFIX}") if p.is_file())


def prune_backups(backups_dir: Path, keep: int) -> list[Path]:
    """Delete all but the newest ``keep`` backups; returns the deleted paths."""
    existing = list_backups(backups_dir)
    doomed = existing[:-keep] if keep > 0 else existing
    for path in doomed:
        path.unlink(missing_ok=True)
    return doomed


def backup(store: SqliteStore, backups_dir: Path, keep: int, at: datetime) -> Path:
    """Online backup through SQLite's backup API into ``backups_dir``, then apply retention.

    The copy is written to a temporary name and renamed once complete, so a crash or a full
    disk never leaves a truncated file that looks like a backup.
    """
    final = backups_dir / backup_name(at)
    partial = final.with_suffix(".partial")

    def copy(conn: sqlite3.Connection) -> None:
        # Runs while the store is held: no write can land between the pages copied.
        backups_dir.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
        try:
            create_private(partial)
            target = sqlite3.connect(partial)
            try:
                conn.backup(target)
                target.execute("PRAGMA journal_mode=DELETE")
            finally:
                target.close()
            os.replace(partial, final)
        finally:
            partial.unlink(missing_ok=True)
        prune_backups(backups_dir, keep)

    try:
        store.run_in_connection(copy)
    except sqlite3.Error as exc:
        raise map_sqlite_error(exc) from exc
    return final


def quick_check(store: SqliteStore) -> list[str]:
    """``PRAGMA quick_check`` rows: ``["ok"]`` when the database is sound."""
    rows = store.fetch_all("PRAGMA quick_check")
    return [str(row[0]) for row in rows]


def checkpoint(store: SqliteStore, mode: CheckpointMode = "PASSIVE") -> tuple[int, int, int]:
    """Checkpoint the WAL; returns SQLite's (busy, log frames, checkpointed frames)."""
    row = store.fetch_one(f"PRAGMA wal_checkpoint({mode})")
    if row is None:
        return (0, 0, 0)
    return (int(row[0]), int(row[1]), int(row[2]))


def wal_size_bytes(db_path: Path) -> int:
    """Size of the database's ``-wal`` file (0 when absent)."""
    try:
        return (db_path.parent / (db_path.name + "-wal")).stat().st_size
    except FileNotFoundError:
        return 0


def disk_usage(path: Path) -> shutil._ntuple_diskusage:
    """Total/used/free bytes of the file system holding ``path``."""
    return shutil.disk_usage(path)
