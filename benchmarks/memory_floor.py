"""Memory floor (a script, not a test): ``.venv/bin/python benchmarks/memory_floor.py``.

Explains the soak's steady RSS: how much resident memory the process holds before it
has done any work, layer by layer. Each layer is measured in a fresh interpreter that
imports everything of the layers before it plus its own modules, so the figures are
cumulative and independent of import order elsewhere. ``daemon_import_mb`` is the daemon's
modules alone, what a start holds before its first plan loads the kernels. The layers after
the kernels are paths only some daemons take (a Prometheus scrape, a stored broker secret,
the optimiser's fallback, Yahoo); the exchange calendars never load in the daemon (their
session tables come from a child process). Prints one JSON line:
``{"layers": [{"layer", "rss_mb", "added_mb"}...], "floor_mb", "daemon_import_mb"}``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# (name, statements run after the previous layers' statements)
LAYERS: tuple[tuple[str, str], ...] = (
    ("python", "pass"),
    ("numpy", "import numpy"),
    ("numba", "import numba"),
    ("daemon package (all actors, adapters, API)", "import arduino_trader.daemon.service"),
    ("planner kernels loaded (Numba cache)",
     "from arduino_trader.domain.planner.plan import warm_up; warm_up()"),
    # the paths only some daemons take, cheapest first
    ("a /metrics scrape + a stored secret",
     "import arduino_trader.daemon.api.metrics_exposition, cryptography.fernet"),
    ("PyPortfolioOpt + cvxpy solvers (the optimiser's fallback)", "import pypfopt, cvxpy"),
    ("yfinance", "import yfinance"),
)

_PROBE = """
{body}
for line in open('/proc/self/status'):
    if line.startswith('VmRSS:'):
        print(int(line.split()[1]) / 1024)
"""


def rss_after(statements: list[str]) -> float:
    """Resident MB of a fresh interpreter after running ``statements``."""
    code = _PROBE.format(body="\n".join(statements))
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True,
                         capture_output=True, text=True).stdout
    return float(out.strip().splitlines()[-1])


def main() -> int:
    """Measure each layer and print one JSON line."""
    rows: list[dict[str, object]] = []
    done: list[str] = []
    previous = 0.0
    for name, statement in LAYERS:
        done.append(statement)
        rss = rss_after(done)
        rows.append({"layer": name, "rss_mb": round(rss, 1),
                     "added_mb": round(rss - previous, 1)})
        print(f"{name:48s} {rss:7.1f} MB  (+{rss - previous:.1f})", file=sys.stderr)
        previous = rss
    alone = rss_after(["import arduino_trader.daemon.service"])
    print(f"{'daemon modules alone':48s} {alone:7.1f} MB", file=sys.stderr)
    print(json.dumps({"layers": rows, "floor_mb": round(previous, 1),
                      "daemon_import_mb": round(alone, 1)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
