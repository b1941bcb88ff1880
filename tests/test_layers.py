"""The layer contract (`.importlinter`, docs/architecture.md "Layers") holds, and can fail.

The contract itself is import-linter's configuration, also run by `.ci/run`; these tests
run the same tool so that `pytest` alone catches a new violation.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / ".importlinter"


def _lint(cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run ``lint-imports`` with the repository's contracts on the package under ``cwd``."""
    code = "import sys; from importlinter.cli import lint_imports_command as m; sys.exit(m())"
    return subprocess.run(
        [sys.executable, "-c", code, str(CONFIG), "--no-cache"],
        cwd=cwd, capture_output=True, text=True, timeout=120, check=False,
        env={"PYTHONPATH": str(cwd), "PATH": "/usr/bin:/bin"},
    )


def test_the_package_keeps_every_contract() -> None:
    result = _lint(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_a_new_violation_breaks_the_contracts(tmp_path: Path) -> None:
    """A copy of the package with one upward import and one I/O import in the domain."""
    shutil.copytree(ROOT / "arduino_trader", tmp_path / "arduino_trader",
                    ignore=shutil.ignore_patterns("__pycache__", "data", "static"))
    probe = tmp_path / "arduino_trader" / "domain" / "layer_probe.py"
    probe.write_text("import sqlite3\nfrom time import monotonic\n"
                     "from arduino_trader.actors import base\n", encoding="utf-8")
    result = _lint(tmp_path)
    assert result.returncode != 0
    out = result.stdout
    assert "arduino_trader.domain.layer_probe -> arduino_trader.actors.base" in out
    assert "arduino_trader.domain.layer_probe -> sqlite3" in out
    assert "arduino_trader.domain.layer_probe -> time" in out
