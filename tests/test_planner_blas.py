"""The planner keeps BLAS single-threaded while it plans, and only while it plans."""

from __future__ import annotations

import pytest
from threadpoolctl import threadpool_info

from arduino_trader.domain.planner import plan as plan_module
from arduino_trader.domain.planner.models import PlanInput, PlanResult


def _blas_threads() -> list[int]:
    return [int(i["num_threads"]) for i in threadpool_info() if i["user_api"] == "blas"]


def test_blas_runs_on_one_thread_during_each_plan(monkeypatch: pytest.MonkeyPatch) -> None:
    before = _blas_threads()
    if not before or max(before) <= 1:
        pytest.skip("this machine's BLAS has a single thread anyway")
    seen: list[list[int]] = []

    def fake_plan(inp: PlanInput) -> PlanResult:
        seen.append(_blas_threads())
        return PlanResult("nothing_to_do", "test")

    monkeypatch.setattr(plan_module, "_plan", fake_plan)
    for _ in range(2):  # the second plan reuses the cached controller
        plan_module.plan(None)  # type: ignore[arg-type]
        assert _blas_threads() == before
    assert seen == [[1] * len(before)] * 2
