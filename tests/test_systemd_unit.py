"""The shipped unit file: notify + watchdog, state/cache dirs, numba-safe hardening."""

from __future__ import annotations

import configparser
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from arduino_trader.config.settings import load_settings

ROOT = Path(__file__).parent.parent
UNIT = ROOT / "systemd" / "arduino-trader.service"


def _service() -> configparser.SectionProxy:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(UNIT)
    return parser["Service"]


def test_unit_declares_notify_watchdog_and_directories() -> None:
    service = _service()
    assert service["Type"] == "notify"
    assert int(service["WatchdogSec"]) > 0
    assert service["Restart"] == "on-failure"
    assert service["StateDirectory"] == "arduino-trader"
    assert service["CacheDirectory"] == "arduino-trader"
    assert service["User"] == "arduino-trader"
    assert "NUMBA_CACHE_DIR=%C/arduino-trader" in UNIT.read_text()
    assert " run " in service["ExecStart"] + " "
    # numba JIT-compiles into writable+executable memory.
    assert "MemoryDenyWriteExecute" not in service


def test_example_config_is_valid() -> None:
    settings = load_settings(ROOT / "systemd" / "config.example.toml", environ={})
    assert settings.sources["broker.kind"] == "file"


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze")
def test_systemd_analyze_verify_is_clean(tmp_path: Path) -> None:
    text = UNIT.read_text().replace("/opt/arduino-trader/.venv/bin/arduino-trader",
                                    sys.executable + " -m arduino_trader")
    unit = tmp_path / "arduino-trader.service"
    unit.write_text(text)
    proc = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True,
                          text=True, timeout=60, check=False)
    problems = [line for line in (proc.stdout + proc.stderr).splitlines()
                if "arduino-trader.service" in line]
    assert problems == [], problems
