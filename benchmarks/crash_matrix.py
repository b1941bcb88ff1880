"""Crash at every step (a script, not a test): ``.venv/bin/python benchmarks/crash_matrix.py``.

Runs the scripted live scenario of ``tests/crash_support.py`` once clean (counting its
crash points: committed store write transactions, and each broker HTTP call before it is
sent and after its answer arrived), then once per point k with the daemon process
SIGKILLed at k, restarted without the crash and run to the end, checking every invariant
(each intended order placed exactly once, every broker fill and cash flow recorded once,
bucket balances equal to their ledgers and reconciled with the broker's cash,
``PRAGMA integrity_check``). ``--sample N`` runs N points drawn with ``--seed`` instead of
all of them. Prints one JSON line: ``{points, passed, failed, not_reached, clean_counts,
known_gaps (of the clean run), runs_with_gap (per known-gap kind), runs_with_notes,
notes (observations that break no invariant), failures, wall_s}``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

from crash_support import CRITICAL, CrashHarness, points, sample  # noqa: E402


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    """Run the matrix; exit status 1 when a point failed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sample", type=int, default=0,
                        help="run this many seeded points (0: every point)")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--keep", action="store_true", help="keep every run's directory")
    parser.add_argument("--verbose", action="store_true", help="one line per point on stderr")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _interrupt)  # stop the current daemon child on the way out
    started = time.monotonic()
    base = Path(tempfile.mkdtemp(prefix="crash-matrix-"))
    harness = CrashHarness(base)
    clean = harness.run(None, "clean")
    if clean.problems:
        print(json.dumps({"error": "the clean run fails", "problems": clean.problems}))
        return 1
    every = points(clean.counts)
    chosen = sample(every, args.sample, args.seed) if args.sample else every
    targets = [*CRITICAL, *chosen]
    passed = 0
    not_reached = 0
    gap_runs: dict[str, int] = {}  # known-gap kind → runs showing it
    noted: list[dict[str, object]] = []  # runs with observations (no invariant broken)
    failures: list[dict[str, object]] = []
    for index, target in enumerate(targets):
        name = f"p{index:04d}"
        try:
            result = harness.run(target, name)
            problems, crashed = result.problems, result.crashed_at
            for kind in {k.rsplit(" ", 1)[0] for k in result.known_gaps}:
                gap_runs[kind] = gap_runs.get(kind, 0) + 1
            if result.notes:
                noted.append({"target": target, "crashed_at": crashed, "notes": result.notes})
        except AssertionError as exc:  # the harness itself gave up (a hang, a bad exit)
            problems, crashed = [f"harness: {exc}"[:2000]], None
        if crashed == "not reached":
            not_reached += 1
        if problems:
            failures.append({"target": target, "crashed_at": crashed, "problems": problems})
        else:
            passed += 1
            if not args.keep:
                shutil.rmtree(base / name, ignore_errors=True)
        if args.verbose:
            print(f"{target}: {crashed} {'FAIL ' + str(problems) if problems else 'ok'}",
                  file=sys.stderr, flush=True)
    if not failures and not args.keep:
        shutil.rmtree(base, ignore_errors=True)
    print(json.dumps({
        "points": len(targets), "passed": passed, "failed": len(failures),
        "not_reached": not_reached, "clean_counts": clean.counts,
        "known_gaps": {k: str(v) for k, v in clean.known_gaps.items()},
        "runs_with_gap": gap_runs, "runs_with_notes": len(noted), "notes": noted[:10],
        "failures": failures[:10], "wall_s": round(time.monotonic() - started, 1),
        **({"kept": str(base)} if failures or args.keep else {}),
    }))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
