"""Warm-up compiles every kernel signature a plan uses: in a fresh interpreter, after
``warm_up()`` a demo-like plan on the bundled data adds no signature to any Numba
dispatcher of the planner and scoring kernels (nothing left to compile at the first
plan, which on a slow board took minutes)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def test_after_warm_up_a_plan_compiles_nothing() -> None:
    done = subprocess.run([sys.executable, str(HERE / "warm_probe.py")], cwd=HERE,
                          capture_output=True, text=True, timeout=600, check=True)
    answer = json.loads(done.stdout.strip().splitlines()[-1])
    assert answer["status"] == "plan" and answer["steps"] > 0, answer  # it evaluated
    assert answer["kernels"] >= 10, answer
    assert answer["compiled_by_plan"] == {}, answer
