"""Run in a fresh interpreter by test_planner_warm_up: warm the kernels, then plan on the
bundled data like the demo (cash, three holdings, the optimiser on) and print, as JSON,
every Numba kernel signature the plan compiled that warm-up had not."""

from __future__ import annotations

import json
import sys
from types import ModuleType
from typing import Any

from bundled_plan import bundled_input, last_close

from arduino_trader.domain.planner import end_state_score, evaluation, sequence_walk
from arduino_trader.domain.planner.models import Holding, PlannerSettings
from arduino_trader.domain.planner.plan import plan, warm_up
from arduino_trader.domain.scoring import kernels

MODULES: tuple[ModuleType, ...] = (evaluation, end_state_score, sequence_walk, kernels)


def signatures() -> dict[str, list[str]]:
    """Each Numba dispatcher's compiled signatures (public ``signatures`` attribute)."""
    out: dict[str, list[str]] = {}
    for module in MODULES:
        for name, obj in vars(module).items():
            if hasattr(obj, "signatures") and hasattr(obj, "py_func"):
                out[f"{module.__name__}.{name}"] = [str(s) for s in obj.signatures]
    return out


def main() -> None:
    warm_up()
    before = signatures()
    settings = PlannerSettings(max_sequences=int(sys.argv[1]) if len(sys.argv) > 1 else 200)
    probe = bundled_input(10_000.0, settings=settings)
    holdings = [Holding(s, q, last_close(probe, s)) for s, q in
                (("AAPL.US", 20), ("BAC.US", 60), ("AMD.US", 15))]
    result = plan(bundled_input(10_000.0, holdings, settings=settings))
    after = signatures()
    new: dict[str, Any] = {k: sorted(set(v) - set(before.get(k, []))) for k, v in after.items()}
    print(json.dumps({"status": result.status, "steps": len(result.steps),
                      "kernels": len(after),
                      "compiled_by_plan": {k: v for k, v in new.items() if v}}))


if __name__ == "__main__":
    main()
