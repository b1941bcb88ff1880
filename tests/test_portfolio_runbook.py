"""docs/runbook.md stays true: its commands, jobs, routes, confirmations, paths and log
events exist in the CLI, the daemon, the API, the unit file and the code."""

from __future__ import annotations

import argparse
import configparser
import re
from pathlib import Path

from arduino_trader.actors import (
    broker_probe,
    executor,
    health,
    maintenance,
    market_data,
    portfolio,
)
from arduino_trader.daemon.api.app import ROUTERS
from arduino_trader.daemon.api.routes_trades import KILL_CONFIRMATION
from arduino_trader.daemon.cli import build_parser
from arduino_trader.daemon.paths import DB_FILE, TOKEN_FILE
from arduino_trader.daemon.settings_service import LIVE_CONFIRMATION

ROOT = Path(__file__).resolve().parent.parent
RUNBOOK = (ROOT / "docs" / "runbook.md").read_text(encoding="utf-8")
SOURCE = "\n".join(p.read_text(encoding="utf-8")
                   for p in (ROOT / "arduino_trader").rglob("*.py"))


def _subcommands() -> set[str]:
    parser = build_parser()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return set(action.choices)
    raise AssertionError("no subcommands")


def test_cli_commands_and_jobs_exist() -> None:
    used = set(re.findall(r"\$AT ([a-z-]+)", RUNBOOK))
    used |= set(re.findall(r"bin/arduino-trader ([a-z-]+)", RUNBOOK))
    assert used and used <= _subcommands(), used - _subcommands()
    jobs = {spec.name for module in (health, maintenance, market_data, broker_probe, executor,
                                     portfolio) for spec in module.JOBS}
    triggered = set(re.findall(r"\$AT trigger ([a-z_]+)", RUNBOOK))
    assert triggered and triggered <= jobs, triggered - jobs


def test_api_routes_and_confirmations_exist() -> None:
    routes = {spec.path for router in ROUTERS for spec in router.routes}
    used = {p.split("?")[0] for p in re.findall(r"127\.0\.0\.1:8000(/[A-Za-z0-9_/{}.-]*)",
                                               RUNBOOK)}
    used |= set(re.findall(r"`(?:GET |POST |PUT )?(/api/[a-z/{}-]+)`", RUNBOOK))
    used = {re.sub(r"/(USD|EUR)$", "/{currency}", u) for u in used if u != "/"}
    assert len(used) >= 10 and used <= routes, used - routes
    assert f'"confirm": "{KILL_CONFIRMATION}"' in RUNBOOK
    assert f'"confirm": "{LIVE_CONFIRMATION}"' in RUNBOOK


def test_paths_match_the_unit_file() -> None:
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.read(ROOT / "systemd" / "arduino-trader.service")
    service = unit["Service"]
    assert service["ExecStart"].split()[0] == "/opt/arduino-trader/.venv/bin/arduino-trader"
    assert "--config /etc/arduino-trader/config.toml" in service["ExecStart"]
    assert f"/var/lib/{service['StateDirectory']}" in RUNBOOK
    assert f"Type={service['Type']}" in RUNBOOK and f"WatchdogSec={service['WatchdogSec']}" \
        in RUNBOOK
    assert DB_FILE in RUNBOOK and TOKEN_FILE in RUNBOOK


def test_alerted_events_are_logged_by_the_code() -> None:
    table = RUNBOOK.split("Alert on these", 1)[1]
    events = set(re.findall(r"`([a-z]+(?:_[a-z]+)+)`", table))
    events -= {"consecutive_failures", "job_sync_cycle_minutes"}
    missing = {e for e in events if f'"{e}"' not in SOURCE}
    assert len(events) >= 8 and not missing, missing
