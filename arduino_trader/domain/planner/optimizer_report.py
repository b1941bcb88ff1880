"""What a plan records of its optimiser run: targets only when the optimiser succeeded,
otherwise its error (a failed run's weights are the current ones, not targets)."""

from __future__ import annotations

from typing import Any

from ..optimizer import OptimizerResult


def optimizer_fields(opt: OptimizerResult | None) -> dict[str, Any]:
    """``PlanResult`` keyword arguments for ``opt`` (``None``: the optimiser is off)."""
    if opt is None:
        return {"target_weights": {}, "optimizer_fallback": None, "optimizer_error": None,
                "achieved_return": None, "expected_returns": {}}
    if not opt.success:
        return {"target_weights": {}, "optimizer_fallback": None,
                "optimizer_error": opt.error or "the optimiser failed without a reason",
                "achieved_return": None, "expected_returns": {}}
    return {"target_weights": dict(opt.target_weights),
            "optimizer_fallback": opt.fallback_used, "optimizer_error": None,
            "achieved_return": opt.achieved_expected_return,
            "expected_returns": dict(opt.expected_returns)}


__all__ = ["optimizer_fields"]
