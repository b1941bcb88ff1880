"""Maintenance: online backups with retention (uploaded off-board when configured),
job-history and plan-history cleanup, WAL checkpoint."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from arduino_trader.adapters.offsite_backup import (
    OffsiteBackupError,
    OffsiteBackups,
    target_from_settings,
)
from arduino_trader.adapters.store import emergency_runs_repo, maintenance, plan_repo
from arduino_trader.adapters.store.sqlite import SqliteStore
from arduino_trader.protocols.jobs import JobSpec
from arduino_trader.protocols.messages import JobOutcome, RunJob

from . import discovery, universe_pruning
from .base import ActorContext, BaseActor, handles

JOB_HISTORY_DAYS = 90  # job runs and finished emergency runs kept
# Plan runs kept: the planner stores one every few minutes (~6 KB each with 20 securities:
# a quarter of a gigabyte a year, and again in every backup); only the newest is read.
PLAN_HISTORY_DAYS = 30

JOBS: tuple[JobSpec, ...] = (
    JobSpec("daily_maintenance", "maintenance",
            "Prune old job and plan history, backup the database, checkpoint the WAL",
            daily_hour_key="job_maintenance_hour", enabled_key="job_backup_enabled",
            timeout_s=1800),
    JobSpec("backup", "maintenance", "Online backup of the database now (manual)",
            timeout_s=1800),
    universe_pruning.JOB,
    discovery.JOB,
)


class MaintenanceActor(BaseActor):
    """Runs the maintenance jobs against the store."""

    name = "maintenance"
    needs = ("store", "market_data")
    ctx: ActorContext

    def __init__(self, ctx: ActorContext, *, backups_dir: Path) -> None:
        super().__init__(ctx)
        self._backups_dir = backups_dir

    def _store(self) -> SqliteStore:
        store = self.ctx.deps.store
        assert isinstance(store, SqliteStore)
        return store

    @handles(RunJob)
    def _on_run_job(self, msg: RunJob) -> JobOutcome:
        if msg.job == "backup":
            path = self._backup()
            ok, offsite = self._offsite(path)
            return JobOutcome(ok, f"backup written: {path.name}; {offsite}",
                              {"path": str(path)})
        if msg.job == "daily_maintenance":
            pruned = self._prune_job_history()
            now = self.ctx.clock.now()
            plans, recommendations = plan_repo.prune_history(
                self._store(), now - timedelta(days=PLAN_HISTORY_DAYS))
            emergency = emergency_runs_repo.prune_emergency_runs(
                self._store(), now - timedelta(days=JOB_HISTORY_DAYS))
            path = self._backup()
            ok, offsite = self._offsite(path)
            maintenance.checkpoint(self._store(), "TRUNCATE")
            return JobOutcome(ok, f"backup {path.name}; {offsite}; pruned {pruned} job runs, "
                                  f"{plans} plans, {recommendations} superseded "
                                  f"recommendations, {emergency} emergency runs; "
                                  "WAL checkpointed",
                              {"path": str(path), "pruned": pruned, "pruned_plans": plans,
                               "pruned_recommendations": recommendations,
                               "pruned_emergency_runs": emergency})
        if msg.job == universe_pruning.JOB.name:
            return universe_pruning.run_pruning(self.ctx)
        if msg.job == discovery.JOB.name:
            return discovery.run_discovery(self.ctx)
        return JobOutcome(False, f"maintenance does not run job {msg.job!r}")

    def _backup(self) -> Path:
        retention = self.ctx.settings().typed.backup.retention_count
        path: Path = maintenance.backup(self._store(), self._backups_dir, retention,
                                        self.ctx.clock.now())
        self.log.info("backup_written", path=str(path))
        return path

    def _offsite(self, path: Path) -> tuple[bool, str]:
        """Upload the local backup when a bucket is configured: (ok, what happened)."""
        try:
            target = target_from_settings(self.ctx.settings())
            if target is None:
                return True, "off-board upload off"
            offsite = OffsiteBackups(target)
            uploaded = offsite.upload(path)
            removed = offsite.prune()
        except OffsiteBackupError as exc:
            self.log.error("offsite_backup_failed", path=str(path), error=str(exc))
            return False, f"off-board upload FAILED: {exc}"
        self.log.info("offsite_backup_uploaded", key=uploaded.key, size=uploaded.size,
                      pruned=removed)
        return True, f"uploaded and verified {uploaded.key}, {len(removed)} old removed"

    def _prune_job_history(self) -> int:
        cutoff = self.ctx.clock.now() - timedelta(days=JOB_HISTORY_DAYS)
        return int(self._store().execute(
            "DELETE FROM job_runs WHERE started_at < ?", (int(cutoff.timestamp()),)))
