"""The data directory as the owner meets it: the database (with its WAL files) and the
backups are created readable by the daemon's user only, whatever the umask; a data
directory the daemon cannot write ends in ``cannot start: ...``, not a traceback."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from daemon_harness import Client, start_daemon, wait_for

from arduino_trader.daemon.cli import main


@pytest.fixture
def open_umask() -> Iterator[None]:
    previous = os.umask(0o022)  # the usual shell umask: files 0644 unless asked otherwise
    yield
    os.umask(previous)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_database_and_backups_are_created_0600(tmp_path: Path, open_umask: None) -> None:
    daemon = start_daemon(tmp_path / "state")
    try:
        db = Path(daemon.store.path)
        wal = db.with_name(db.name + "-wal")
        shm = db.with_name(db.name + "-shm")
        assert {p.name: _mode(p) for p in (db, wal, shm)} == {
            db.name: 0o600, wal.name: 0o600, shm.name: 0o600}
        api = Client(daemon)
        code, _ = api.call("POST", "/api/system/jobs/backup")
        assert code == 202
        wait_for(lambda: api.call("GET", "/api/system/jobs/backup")[1]["last_result"] == "ok",
                 what="backup")
        (backup,) = (daemon.data_dir / "backups").glob("arduino-trader-*.db")
        assert _mode(backup) == 0o600
        assert _mode(backup.parent) == 0o700
    finally:
        daemon.stop()


def _read_only_dir(tmp_path: Path) -> Path:
    """A directory this process cannot create files in (root ignores modes: use sysfs)."""
    if os.geteuid() != 0:
        path = tmp_path / "read-only"
        path.mkdir(mode=0o500)
        return path
    sysfs = Path("/sys")
    try:
        (sysfs / "arduino-trader-probe").touch()
    except OSError:
        return sysfs
    pytest.skip("no directory here refuses root's writes")


def test_read_only_data_directory_cannot_start(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    data_dir = _read_only_dir(tmp_path)
    assert main(["run", "--data-dir", str(data_dir)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("arduino-trader: cannot start: cannot write in data directory "
                          f"{data_dir}"), err
    assert "Traceback" not in err
