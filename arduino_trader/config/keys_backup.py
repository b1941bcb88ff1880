"""Off-board backups: an S3-compatible bucket (Cloudflare R2, AWS S3, MinIO)."""

from __future__ import annotations

from .spec import SettingSpec

KEYS: tuple[SettingSpec, ...] = (
    SettingSpec("backup.s3_endpoint_url", "str", "", "S3-compatible endpoint the backups are "
                "uploaded to (e.g. https://<account>.r2.cloudflarestorage.com); empty = "
                "local backups only", group="backup"),
    SettingSpec("backup.s3_bucket", "str", "", "Bucket of the off-board backups",
                group="backup"),
    SettingSpec("backup.s3_prefix", "str", "arduino-trader/", "Key prefix of the off-board "
                "backups inside the bucket", group="backup"),
    SettingSpec("backup.s3_region", "str", "auto", "Region name sent to the endpoint "
                "(Cloudflare R2: auto)", group="backup"),
    SettingSpec("backup.s3_access_key_id", "str", "", "Access key id of the bucket",
                secret=True, group="backup"),
    SettingSpec("backup.s3_secret_access_key", "str", "", "Secret access key of the bucket",
                secret=True, group="backup"),
    SettingSpec("backup.s3_retention_count", "int", 30, "Off-board backups kept in the "
                "bucket (the oldest beyond this are deleted after a verified upload)",
                minimum=1, maximum=3650, group="backup"),
)
