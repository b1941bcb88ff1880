"""Off-board copies of the daily backups in an S3-compatible bucket.

Each upload carries the file's SHA-256 in the object's metadata and is read back and
hashed before it counts: an object that does not match is deleted and the upload fails.
Retention runs only after a verified upload. A restore downloads to a temporary name,
checks the hash and SQLite's ``quick_check``, and only then renames into place.
"""

from __future__ import annotations

import hashlib
import os
import re
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# The exception classes only (~1 MB); boto3 and the client configuration (~20 MB resident,
# seconds to import on the board) load when off-board backups are configured and used.
from botocore.exceptions import BotoCoreError, ClientError

from arduino_trader.config.settings import Settings

from .store.maintenance import BACKUP_PREFIX, BACKUP_SUFFIX

BACKUP_NAME = re.compile(re.escape(BACKUP_PREFIX) + r"\d{8}T\d{6}Z" + re.escape(BACKUP_SUFFIX))
CHECKSUM_KEY = "sha256"  # user metadata (x-amz-meta-sha256): hex digest of the file
CHUNK = 1 << 20


class OffsiteBackupError(RuntimeError):
    """An off-board backup operation failed; the message says what and why."""


@dataclass(frozen=True)
class S3Target:
    """Where the off-board backups go."""

    endpoint_url: str
    bucket: str
    prefix: str
    region: str
    access_key_id: str
    secret_access_key: str
    keep: int


@dataclass(frozen=True)
class RemoteBackup:
    """One backup in the bucket."""

    name: str
    key: str
    size: int


def target_from_settings(settings: Settings) -> S3Target | None:
    """The configured bucket, or None when off-board backups are off (no endpoint).

    Raises :class:`OffsiteBackupError` naming what is missing when only part is set."""
    backup = settings.typed.backup
    endpoint = backup.s3_endpoint_url.strip()
    if not endpoint:
        return None
    target = S3Target(endpoint, backup.s3_bucket.strip(), backup.s3_prefix,
                      backup.s3_region.strip() or "auto", backup.s3_access_key_id,
                      backup.s3_secret_access_key, backup.s3_retention_count)
    missing = [key for key, value in (("backup.s3_bucket", target.bucket),
                                      ("backup.s3_access_key_id", target.access_key_id),
                                      ("backup.s3_secret_access_key",
                                       target.secret_access_key)) if not value]
    if missing:
        raise OffsiteBackupError(f"backup.s3_endpoint_url is set but {', '.join(missing)} "
                                 "is empty")
    return target


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


class OffsiteBackups:
    """Upload, list, prune and fetch backups in one bucket (blocking calls)."""

    def __init__(self, target: S3Target) -> None:
        import boto3
        from botocore.config import Config

        self.target = target
        try:
            self._s3: Any = boto3.client(
                "s3", endpoint_url=target.endpoint_url, region_name=target.region,
                aws_access_key_id=target.access_key_id,
                aws_secret_access_key=target.secret_access_key,
                config=Config(retries={"max_attempts": 3, "mode": "standard"},
                              connect_timeout=10, read_timeout=120,
                              s3={"addressing_style": "path"}))
        except (BotoCoreError, ValueError) as exc:  # e.g. an endpoint that is not a URL
            raise OffsiteBackupError(f"backup.s3_* settings refused by the S3 client: "
                                     f"{exc}") from exc

    def _key(self, name: str) -> str:
        return self.target.prefix + name

    def upload(self, path: Path) -> RemoteBackup:
        """Upload ``path`` under its own name and verify it by reading it back."""
        checksum = sha256_file(path)
        key = self._key(path.name)
        try:
            self._s3.upload_file(str(path), self.target.bucket, key,
                                 ExtraArgs={"Metadata": {CHECKSUM_KEY: checksum}})
            stored = self._object_sha256(key)
        except (BotoCoreError, ClientError, OSError) as exc:
            raise OffsiteBackupError(f"upload of {path.name} failed: {exc}") from exc
        if stored != checksum:
            self._delete(key)
            raise OffsiteBackupError(f"upload of {path.name} failed verification: the "
                                     f"bucket holds sha256 {stored}, the file {checksum}")
        return RemoteBackup(path.name, key, path.stat().st_size)

    def backups(self) -> list[RemoteBackup]:
        """The backups in the bucket, oldest first (other objects are ignored)."""
        found: list[RemoteBackup] = []
        try:
            pages = self._s3.get_paginator("list_objects_v2").paginate(
                Bucket=self.target.bucket, Prefix=self.target.prefix)
            for page in pages:
                for item in page.get("Contents", []):
                    name = item["Key"][len(self.target.prefix):]
                    if BACKUP_NAME.fullmatch(name):
                        found.append(RemoteBackup(name, item["Key"], int(item["Size"])))
        except (BotoCoreError, ClientError) as exc:
            raise OffsiteBackupError(f"cannot list the bucket: {exc}") from exc
        return sorted(found, key=lambda b: b.name)

    def prune(self) -> list[str]:
        """Delete all but the newest ``keep`` backups; returns the deleted names."""
        doomed = self.backups()[:-self.target.keep]
        for backup in doomed:
            self._delete(backup.key)
        return [b.name for b in doomed]

    def fetch(self, name: str, dest: Path) -> Path:
        """Download backup ``name`` to ``dest`` once its hash and SQLite check pass.

        ``dest`` must not exist; nothing is left there when a check fails."""
        if not BACKUP_NAME.fullmatch(name):
            raise OffsiteBackupError(f"{name!r} is not a backup name "
                                     f"({BACKUP_PREFIX}YYYYMMDDTHHMMSSZ{BACKUP_SUFFIX})")
        if dest.exists():
            raise OffsiteBackupError(f"{dest} exists; restore into a new path")
        key = self._key(name)
        partial = dest.with_name(dest.name + ".partial")
        try:
            head = self._s3.head_object(Bucket=self.target.bucket, Key=key)
            expected = head.get("Metadata", {}).get(CHECKSUM_KEY)
            if not expected:
                raise OffsiteBackupError(f"{name} carries no {CHECKSUM_KEY} to verify")
            self._s3.download_file(self.target.bucket, key, str(partial))
            actual = sha256_file(partial)
            if actual != expected:
                raise OffsiteBackupError(f"{name} is corrupt: sha256 {actual}, "
                                         f"uploaded as {expected}")
            _check_sqlite(partial, name)
            os.replace(partial, dest)
        except (BotoCoreError, ClientError, OSError) as exc:
            raise OffsiteBackupError(f"cannot fetch {name}: {exc}") from exc
        finally:
            partial.unlink(missing_ok=True)
        return dest

    def _object_sha256(self, key: str) -> str:
        digest = hashlib.sha256()
        body = self._s3.get_object(Bucket=self.target.bucket, Key=key)["Body"]
        for chunk in body.iter_chunks(CHUNK):
            digest.update(chunk)
        return digest.hexdigest()

    def _delete(self, key: str) -> None:
        try:
            self._s3.delete_object(Bucket=self.target.bucket, Key=key)
        except (BotoCoreError, ClientError) as exc:
            raise OffsiteBackupError(f"cannot delete {key}: {exc}") from exc


def _check_sqlite(path: Path, name: str) -> None:
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            rows = [str(r[0]) for r in conn.execute("PRAGMA quick_check").fetchall()]
        finally:
            conn.close()
    except sqlite3.Error as exc:
        raise OffsiteBackupError(f"{name} is not a sound SQLite database: {exc}") from exc
    if rows != ["ok"]:
        raise OffsiteBackupError(f"{name} fails SQLite's quick_check: {rows[:3]}")
