"""CLI edges: `check-config … | head` ends quietly, and a bad config reports every bad
setting in one run (file and environment together)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from arduino_trader.config.settings import load_settings
from arduino_trader.config.spec import SettingError, SettingErrors
from arduino_trader.daemon.cli import SIGPIPE_EXIT, main

ROOT = Path(__file__).parent.parent


def test_check_config_into_a_closed_pipe_ends_without_a_traceback(tmp_path: Path) -> None:
    read_end, write_end = os.pipe()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARDUINO_TRADER_")}
    proc = subprocess.Popen([sys.executable, "-m", "arduino_trader", "check-config"],
                            stdout=write_end, stderr=subprocess.PIPE, env=env, cwd=ROOT)
    os.close(write_end)
    os.close(read_end)  # like `| head` that has already exited: every write fails
    _, err = proc.communicate(timeout=60)
    text = err.decode()
    assert "Traceback" not in text and "BrokenPipeError" not in text, text
    assert proc.returncode == SIGPIPE_EXIT


def test_a_bad_config_file_reports_every_error_in_one_run(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ARDUINO_TRADER_CONFIG", raising=False)
    monkeypatch.setenv("ARDUINO_TRADER_API__PORT", "0")
    bad = tmp_path / "bad.toml"
    bad.write_text('min_hold_days = -1\nnot_a_setting = 3\n[api]\nhost = 7\n',
                   encoding="utf-8")
    assert main(["check-config", "--config", str(bad)]) == 1
    err = capsys.readouterr().err
    for key in ("min_hold_days", "not_a_setting", "api.host", "api.port"):
        assert key in err, err
    assert "4 bad setting(s)" in err and "from the environment" in err


def test_load_settings_lists_each_error_and_keeps_a_single_one_as_is(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("min_hold_days = -1\nnope = 1\n", encoding="utf-8")
    with pytest.raises(SettingErrors) as many:
        load_settings(bad, environ={})
    assert sorted(e.key for e in many.value.errors) == ["min_hold_days", "nope"]
    bad.write_text("min_hold_days = -1\n", encoding="utf-8")
    with pytest.raises(SettingError) as one:
        load_settings(bad, environ={})
    assert not isinstance(one.value, SettingErrors) and one.value.key == "min_hold_days"
