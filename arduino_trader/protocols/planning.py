"""Planner vocabulary: requests to the planner actor and what it publishes."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

PLANNER_ACTOR = "planner"


@dataclass(frozen=True)
class PlannedStep:
    """One recommended trade as the planner published it (floats: estimates only)."""

    step: int
    isin: str
    symbol: str
    side: Literal["BUY", "SELL"]
    quantity: int
    estimated_price: float
    currency: str
    estimated_value_eur: float
    reason: str
    bucket_id: str = "core"  # whose cash and positions the step uses


@dataclass(frozen=True)
class PlanReady:
    """Published after every stored plan run (``status`` "plan" or "nothing_to_do")."""

    portfolio_hash: str
    status: str
    reason: str
    steps: tuple[PlannedStep, ...]
    plan_id: int
    at: datetime


@dataclass(frozen=True)
class RequestPlan:
    """Plan now (the reply is a :class:`PlanSummary`); ``trigger`` is recorded with it."""

    trigger: str = "manual"


@dataclass(frozen=True)
class GetPlan:
    """The planner's status (the reply is a :class:`PlannerStatus`)."""


@dataclass(frozen=True)
class PlanSummary:
    """The outcome of one planning run."""

    ok: bool
    status: str
    reason: str
    portfolio_hash: str | None = None
    plan_id: int | None = None
    steps: int = 0
    duration_ms: float = 0.0
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class PlannerStatus:
    """What the planner is doing and what it last did."""

    is_planning: bool
    warmed_up: bool
    last_plan_at: datetime | None
    last_summary: PlanSummary | None
    details: dict[str, Any] = field(default_factory=dict)


__all__ = ["PLANNER_ACTOR", "GetPlan", "PlanReady", "PlanSummary", "PlannedStep",
           "PlannerStatus", "RequestPlan"]
