"""Settings of the process itself: admin API, logging, storage, health, jobs."""

from __future__ import annotations

from .spec import SettingSpec

KEYS: tuple[SettingSpec, ...] = (
    SettingSpec("api.host", "str", "127.0.0.1", "Admin API bind address (loopback by default)",
                runtime=False, group="api"),
    SettingSpec("api.allowed_hosts", "str", "", "Extra names (comma-separated) the admin "
                "API answers to in the Host header, besides loopback and api.host "
                "(DNS-rebinding protection)", runtime=False, group="api"),
    SettingSpec("api.port", "int", 8000, "Admin API TCP port", minimum=1, maximum=65535,
                runtime=False, group="api"),
    SettingSpec("api.token", "str", "", "Bearer token for mutating routes; empty = generated "
                "into <data_dir>/api-token at first start", secret=True, runtime=False,
                group="api"),
    SettingSpec("api.allow_restart", "bool", False, "Enable the restart-service endpoint "
                "(the daemon exits with code 75, which the systemd unit restarts) and the "
                "reboot endpoint (needs sudo, which the shipped unit's hardening blocks)",
                runtime=False, group="api"),
    SettingSpec("log.level", "str", "info", "Minimum log level",
                choices=("debug", "info", "warning", "error"), group="logging"),
    SettingSpec("broker.kind", "str", "paper", "Broker adapter: in-process paper broker or "
                "the Tradernet API", choices=("paper", "tradernet"), runtime=False,
                group="broker"),
    SettingSpec("broker.base_url", "str", "https://freedom24.com", "Tradernet API base URL: "
                "the host the account signs in at (https://freedom24.com for Freedom24, "
                "https://tradernet.com for Tradernet accounts; point it at "
                "`arduino-trader sandbox` to rehearse)", runtime=False, group="broker"),
    SettingSpec("health.disk_warn_free_mb", "int", 1024, "Free disk below this degrades "
                "health", unit="MiB", minimum=0, maximum=1_048_576, group="health"),
    SettingSpec("health.disk_fail_free_mb", "int", 100, "Free disk below this fails health",
                unit="MiB", minimum=0, maximum=1_048_576, group="health"),
    SettingSpec("health.wal_warn_mb", "int", 64, "WAL file larger than this degrades health",
                unit="MiB", minimum=1, maximum=65_536, group="health"),
    SettingSpec("health.heartbeat_timeout_s", "int", 30, "An actor silent for longer is "
                "reported not alive", unit="s", minimum=5, maximum=600, group="health"),
    SettingSpec("health.job_failures_degraded", "int", 3, "Consecutive failures of a job that "
                "degrade health", minimum=1, maximum=100, group="health"),
    SettingSpec("backup.retention_count", "int", 7, "Backups kept in <data_dir>/backups",
                minimum=1, maximum=365, group="backup"),
    SettingSpec("job_health_check_minutes", "int", 5, "Interval of the health_check job "
                "(database and disk checks)", unit="min", minimum=1, maximum=1440,
                group="scheduling"),
    SettingSpec("job_lock_stale_minutes", "int", 120, "POST /api/system/locks/clear clears "
                "a running job's lock once the run is older than this (sooner when nothing "
                "runs it any more)", unit="min", minimum=5, maximum=10_080, group="scheduling"),
    SettingSpec("job_backup_enabled", "bool", True, "Run the daily backup job", group="scheduling"),
)
