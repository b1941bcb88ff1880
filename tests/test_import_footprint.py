"""Start-up footprint: the daemon's modules load without the libraries that only some
paths need (the optimiser's fallback, the plan's frames, Yahoo, calendars, plotting,
studies). Each is imported where it is used; a module-level import of one of them adds its
resident memory and import time to every start (benchmarks/memory_floor.py, soak.py)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

# Loaded on their paths only: pandas with the optimiser's PyPortfolioOpt fallback, Yahoo or
# a study (never with a plan or a calendar query: tests/test_session_tables.py and
# tests/test_planner_optimizer.py), the rest where they are used.
ON_DEMAND = ("pandas", "exchange_calendars", "pypfopt", "cvxpy", "yfinance", "curl_cffi",
             "matplotlib", "distributed", "osqp", "boto3", "prometheus_client",
             "cryptography")
# Loaded by a plan: the QP solver of the optimiser's targets.
PLANNED = ("osqp",)


def _loaded_after(statement: str) -> list[str]:
    code = (f"import sys\n{statement}\n"
            f"print(sorted(m for m in {ON_DEMAND!r} if m in sys.modules))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=300, cwd=Path(__file__).parent)
    return list(ast.literal_eval(out.stdout.strip().splitlines()[-1]))


def test_importing_the_daemon_loads_no_on_demand_library() -> None:
    assert _loaded_after("import arduino_trader.daemon.service") == []


def test_importing_the_cli_loads_no_on_demand_library() -> None:
    assert _loaded_after("import arduino_trader.daemon.cli") == []


def test_a_running_demo_through_its_first_plan_loads_only_the_planned_library(
        tmp_path: Path) -> None:
    """The whole demo daemon, started and planning, in a fresh interpreter: the /metrics
    exposition waits for a scrape and the secrets cipher for a secret (the paper broker
    has none)."""
    run = (
        "from daemon_harness import wait_for\n"
        "from reliability_support import running_demo\n"
        "from pathlib import Path\n"
        "from arduino_trader.daemon.demo import DemoDaemon\n"
        f"with running_demo(DemoDaemon, Path({str(tmp_path)!r}) / 'state') as d:\n"
        "    wait_for(lambda: d.store.fetch_one(\"SELECT COUNT(*) FROM plans WHERE status"
        " = 'plan'\")[0] > 0, 240, 'a plan')\n")
    assert _loaded_after(run) == list(PLANNED)
