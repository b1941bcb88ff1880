"""The test harness's ``wait_idle``: once it returns, the daemon writes nothing more by
itself (a frozen clock schedules nothing new), so a test can compare the store before and
after a request of its own."""

from __future__ import annotations

from pathlib import Path

from daemon_harness import start_daemon
from reliability_support import StoreWatch, count, db_path, manual_clock, wait_idle


def test_wait_idle_covers_the_startup_jobs_and_their_effects(tmp_path: Path) -> None:
    """Right after start no job has been claimed yet (the first tick is still ahead):
    waiting must cover the jobs due at start and the actor work they hand out."""
    daemon = start_daemon(tmp_path / "state", clock=manual_clock(),
                          env={"ARDUINO_TRADER_PLANNER_DEBOUNCE_SECONDS": "3600"})
    try:
        wait_idle(daemon, 120)
        assert daemon.scheduler is not None
        assert daemon.scheduler.due_jobs(daemon.clock.now()) == []
        path = db_path(daemon)
        ran = count(path, "SELECT COUNT(DISTINCT job) FROM job_runs WHERE finished_at IS NOT NULL")
        assert ran >= 5
        assert count(path, "SELECT COUNT(*) FROM securities") > 0
        watch = StoreWatch(path)
        try:
            watch.mark()
            wait_idle(daemon, 120)
            assert watch.changed() == []
        finally:
            watch.close()
    finally:
        daemon.stop()
