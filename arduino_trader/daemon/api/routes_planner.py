"""Planner endpoints: the stored plan as explained steps,
executing step 1 through the executor, dismissal by portfolio hash, planner status and
regeneration, and the optimiser's view of the last plan. Planning never runs on the loop:
regeneration is a background job, status answers from the store even while the planner
is busy."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

from aiohttp import web

from arduino_trader.adapters.store import emergency_recs, plan_repo, scores_repo
from arduino_trader.domain.emergency import EMERGENCY_PORTFOLIO_HASH
from arduino_trader.domain.execution.costs import minimum_trade_eur
from arduino_trader.domain.universe import IdentifierError, validate_isin
from arduino_trader.protocols.planning import (
    PLANNER_ACTOR,
    GetPlan,
    PlannerStatus,
    PlanSummary,
    RequestPlan,
)

from ..scheduler import JobAlreadyRunning, JobNotFound
from .bodies_trading import DismissBody, ExecuteStepBody
from .body import read_struct
from .context import ctx_of
from .errors import ApiError, bad_request, conflict, not_found
from .helpers import ask_actor, json_response
from .order_guard import limit_rate
from .router import ApiRouter

router = ApiRouter("planner")

PLAN_JOB = "planner"
EXECUTION_JOB = "autonomous_execution"
STATUS_ASK_TIMEOUT_S = 2.0
OPTIMIZER_ASK_TIMEOUT_S = 180.0
MIN_CHANGE = 0.001
PLAN_SCHEMA: dict[str, Any] = {
    "type": "object", "required": ["status", "reason", "steps", "portfolio_hash"],
    "properties": {"status": {"enum": ["plan", "nothing_to_do", "none"]},
                   "steps": {"type": "array", "items": {"type": "object"}}},
}


async def _plan_view(request: web.Request) -> dict[str, Any]:
    store = ctx_of(request).store
    latest = await asyncio.to_thread(plan_repo.latest_plan, store)
    pending = await asyncio.to_thread(plan_repo.pending_recommendations, store, 50)
    steps = [{**s, "kind": "plan"} for s in pending]
    # negative-balance repairs, kind emergency
    emergency = await asyncio.to_thread(emergency_recs.pending, store)
    if latest is None:
        return {"status": "none", "reason": "no plan yet: the planner runs after the first "
                "price sync, on schedule, or on POST /api/planner/regenerate",
                "portfolio_hash": None, "steps": steps, "depth": len(steps),
                "emergency": emergency}
    result = latest["result"]
    satellites = await asyncio.to_thread(plan_repo.bucket_plans, store, latest["id"])
    run = {latest["id"]} | {b["id"] for b in satellites}
    steps = [s for s in steps if s["plan_id"] in run]
    return {"status": latest["status"], "reason": latest["reason"],
            "portfolio_hash": latest["portfolio_hash"], "plan_id": latest["id"],
            "created_at": latest["created_at"], "trigger": latest["trigger"],
            "depth": len(steps), "steps": steps, "emergency": emergency,
            "current_score": result.get("current_score"),
            "end_state_score": result.get("end_state_score"),
            "total_score_improvement": result.get("improvement"),
            "components_before": result.get("components_before"),
            "components_after": result.get("components_after"),
            "evaluated_count": result.get("evaluated_count"),
            "monte_carlo_paths": result.get("monte_carlo_paths"),
            "regime": result.get("regime"), "cash_reserve_eur": result.get("cash_reserve_eur"),
            "target_weights": result.get("target_weights"),
            "optimizer_fallback": result.get("optimizer_fallback"),
            "refused_buys": result.get("refused_buys", {}),
            "forward_adjustment": result.get("forward_adjustment"),
            "warnings": latest["warnings"], "timings_ms": latest["timings_ms"],
            "buckets": [{"bucket_id": "core", "plan_id": latest["id"],
                         "status": latest["status"], "reason": latest["reason"]}]
            + [{"bucket_id": b["bucket_id"], "plan_id": b["id"], "status": b["status"],
                "reason": b["reason"]} for b in satellites]}


@router.route("GET", "/api/trades/recommendations",
              summary="The stored plan: pending steps with reasons and score breakdown",
              response=PLAN_SCHEMA)
async def recommendations(request: web.Request) -> web.Response:
    """The latest plan run and its pending (not dismissed, not executed) steps."""
    return json_response(await _plan_view(request))


@router.route("GET", "/api/planning/recommendations",
              summary="Alias of GET /api/trades/recommendations", response=PLAN_SCHEMA)
async def planning_recommendations(request: web.Request) -> web.Response:
    """Same answer as ``/api/trades/recommendations``."""
    return json_response(await _plan_view(request))


@router.route("POST", "/api/trades/recommendations/execute",
              summary="Execute step 1 of the stored plan through the executor "
              "({confirm: \"EXECUTE\"})",
              body=ExecuteStepBody,
              response={"type": "object", "required": ["status", "summary"]},
              errors={400: "blocked by a safety layer", 404: "nothing pending",
                      409: "an execution is running",
                      429: "more than 10 order-sending requests a minute",
                      502: "order failed"})
async def execute_step(request: web.Request) -> web.Response:
    """Runs the ``autonomous_execution`` job now and answers with its outcome."""
    await read_struct(request, ExecuteStepBody)
    limit_rate(request)
    ctx = ctx_of(request)
    loop = asyncio.get_running_loop()
    try:
        outcome = await loop.run_in_executor(ctx.executor, ctx.scheduler.run_now,
                                             EXECUTION_JOB, "manual")
    except JobAlreadyRunning as exc:
        raise conflict(str(exc), code="job_running", run_id=exc.run_id) from None
    except JobNotFound:
        raise ApiError(503, "planner_unavailable", "the planner is not wired") from None
    details = dict(outcome.details)
    status = details.get("status")
    answer = {"summary": outcome.summary, **details, "status": status or "nothing"}
    if not outcome.ok:
        raise ApiError(502, str(details.get("code") or "execution_failed"), outcome.summary,
                       **{k: v for k, v in details.items() if k != "status"})
    if status is None:
        raise not_found(outcome.summary, code="no_pending_recommendation")
    if status == "blocked":
        return json_response({"error": details.get("code") or "blocked",
                              "message": outcome.summary, **answer}, status=400)
    return json_response(answer)


@router.route("POST", "/api/trades/recommendations/dismiss",
              summary="Dismiss the pending recommendations of a portfolio hash (the "
              f"emergency ones: \"{EMERGENCY_PORTFOLIO_HASH}\", all or one \"key\")",
              body=DismissBody,
              response={"type": "object", "required": ["dismissed"]},
              errors={404: "no pending emergency recommendation with that key"})
async def dismiss(request: web.Request) -> web.Response:
    """A dismissed recommendation stays dismissed for that portfolio hash; an emergency
    one for its situation (until the shortfalls change)."""
    body = await read_struct(request, DismissBody)
    value, key = body.portfolio_hash, body.key
    ctx = ctx_of(request)
    if value == EMERGENCY_PORTFOLIO_HASH:
        count = await asyncio.to_thread(emergency_recs.dismiss_by_owner, ctx.store,
                                        ctx.clock.now(), key)
        if key is not None and count == 0:
            raise not_found(f"no pending emergency recommendation {key}",
                            code="no_pending_recommendation")
        return json_response({"dismissed": count, "portfolio_hash": value, "key": key})
    if key is not None:
        raise bad_request(f"key is only for portfolio_hash \"{EMERGENCY_PORTFOLIO_HASH}\"",
                          code="invalid_field", field="key")
    count = await asyncio.to_thread(plan_repo.dismiss_all_by_portfolio_hash, ctx.store, value,
                                    ctx.clock.now())
    return json_response({"dismissed": count, "portfolio_hash": value})


@router.route("GET", "/api/planner/status", summary="Planner state: planning, last plan, "
              "pending recommendations", response={"type": "object",
                                                   "required": ["is_planning", "last_plan"]})
async def planner_status(request: web.Request) -> web.Response:
    """Answers from the store; a planner busy planning shows ``is_planning: true``, one
    waiting for held prices names them in ``waiting``."""
    ctx = ctx_of(request)
    latest = await asyncio.to_thread(plan_repo.latest_plan, ctx.store)
    pending = await asyncio.to_thread(plan_repo.count_pending_by_side, ctx.store)
    is_planning, warmed, reachable, waiting = False, None, True, None
    try:
        answer = await ask_actor(request, PLANNER_ACTOR, GetPlan(),
                                 timeout=STATUS_ASK_TIMEOUT_S)
        if isinstance(answer, PlannerStatus):
            warmed = answer.warmed_up
            last = answer.last_summary  # "waiting for prices of held ...": no plan stored
            waiting = last.reason if last is not None and last.status == "waiting" else None
    except ApiError as exc:
        if exc.status == 504:
            is_planning = True  # the actor is busy with a plan
        else:
            reachable = False
    evaluated = None
    if latest is not None:
        evaluated = latest["result"].get("evaluated_count")
        latest = {k: v for k, v in latest.items() if k not in ("result", "inputs")}
    return json_response({"is_planning": is_planning, "planner_running": reachable,
                          "evaluated_count": evaluated,
                          "warmed_up": warmed, "last_plan": latest, "waiting": waiting,
                          "portfolio_hash": latest["portfolio_hash"] if latest else None,
                          "pending": pending, "is_finished": not is_planning})


@router.route("POST", "/api/planner/regenerate", summary="Plan now (202 + run id)",
              status=202, errors={409: "a plan is being made"},
              response={"type": "object", "required": ["job", "run_id", "status"]})
async def regenerate(request: web.Request) -> web.Response:
    """Starts the ``planner`` job in the background; poll /api/planner/status."""
    try:
        run_id = ctx_of(request).scheduler.trigger(PLAN_JOB, "manual")
    except JobNotFound:
        raise ApiError(503, "planner_unavailable", "the planner is not wired") from None
    except JobAlreadyRunning as exc:
        raise conflict(str(exc), code="job_running", run_id=exc.run_id) from None
    return json_response({"job": PLAN_JOB, "run_id": run_id, "status": "started"},
                         status=202)


def _optimizer_view(latest: dict[str, Any], blend: float, target: float,
                    reached_share: float) -> dict[str, Any]:
    """The optimiser's result fields from a stored plan: targets vs the weights the plan saw. A run
    that failed (its error stored with the plan) is ``success: false`` with the error;
    ``target_reached``: the targets' expected return ≥ ``reached_share`` × target."""
    result, inputs = latest["result"], latest.get("inputs", {})
    targets: dict[str, float] = dict(result.get("target_weights") or {})
    current: dict[str, float] = dict(inputs.get("current_weights") or {})
    total = float(inputs.get("total_value_eur") or 0.0)
    changes: list[dict[str, Any]] = []
    for symbol in sorted(set(targets) | set(current)):
        delta = targets.get(symbol, 0.0) - current.get(symbol, 0.0)
        if abs(delta) > MIN_CHANGE:
            changes.append({"symbol": symbol,
                            "current_pct": round(100 * current.get(symbol, 0.0), 2),
                            "target_pct": round(100 * targets.get(symbol, 0.0), 2),
                            "change_pct": round(100 * delta, 2),
                            "change_eur": round(delta * total, 2),
                            "direction": "buy" if delta > 0 else "sell"})
    changes.sort(key=lambda c: -abs(float(c["change_pct"])))
    errors = [result["optimizer_error"]] if result.get("optimizer_error") else \
        [w for w in latest.get("warnings", []) if w.startswith("optimiser")]
    achieved = result.get("achieved_return")
    top = changes[:5]
    return {"success": bool(targets) and not errors, "error": errors[0] if errors else None,
            "target_return_pct": round(100 * target, 2), "blend_used": blend,
            "achieved_return_pct": None if achieved is None else round(100 * achieved, 2),
            "target_reached": None if achieved is None or errors
            else achieved >= reached_share * target,
            "fallback_used": result.get("optimizer_fallback"),
            "total_stocks_optimized": len(targets), "target_weights": targets,
            "expected_returns": dict(result.get("expected_returns") or {}),
            "top_adjustments": top,
            "next_action": (f"{top[0]['direction']} {top[0]['symbol']} "
                            f"({top[0]['change_pct']:+.2f} %)") if top else None,
            "regime": result.get("regime"), "cash_reserve_eur": result.get("cash_reserve_eur"),
            "plan_id": latest["id"], "portfolio_hash": latest["portfolio_hash"]}


def _settings_view(request: web.Request) -> tuple[dict[str, Any], float, float, float]:
    settings = ctx_of(request).settings.current()
    blend = settings.typed.optimizer_blend
    target = settings.typed.optimizer_target_return
    reached = settings.typed.target_return_threshold_pct
    return ({"optimizer_blend": blend, "optimizer_target_return": target,
             "target_return_threshold_pct": reached,
             "min_cash_reserve": str(settings.typed.min_cash_reserve),
             "min_trade_amount": str(minimum_trade_eur(settings).quantize(Decimal("0.01")))},
            blend, target, reached)


@router.route("GET", "/api/optimizer", summary="Optimiser settings and its last result "
              "(from the latest plan)", response={"type": "object",
                                                  "required": ["settings", "status"]})
async def optimizer(request: web.Request) -> web.Response:
    """The optimiser runs inside every plan; this shows what the latest plan got from it."""
    view, blend, target, reached = _settings_view(request)
    latest = await asyncio.to_thread(plan_repo.latest_plan, ctx_of(request).store)
    if latest is None:
        return json_response({"settings": view, "last_run": None, "last_run_time": None,
                              "status": "never_run"})
    last = _optimizer_view(latest, blend, target, reached)
    status = "ok" if last["success"] and not last["fallback_used"] else \
        "fallback" if last["success"] else "failed" if last["error"] else "no_targets"
    return json_response({"settings": view, "last_run": last,
                          "last_run_time": latest["created_at"], "status": status})


@router.route("POST", "/api/optimizer/run", summary="Plan now and answer with the "
              "optimiser's targets", response={"type": "object", "required": ["success"]},
              errors={503: "planner not running", 504: "planner busy"})
async def run_optimizer(request: web.Request) -> web.Response:
    """A full planning run (the optimiser is one of its stages), waited for off the loop."""
    summary = await ask_actor(request, PLANNER_ACTOR, RequestPlan("optimizer"),
                              timeout=OPTIMIZER_ASK_TIMEOUT_S)
    if not isinstance(summary, PlanSummary) or not summary.ok:
        reason = summary.reason if isinstance(summary, PlanSummary) else repr(summary)
        raise ApiError(502, "planning_failed", reason)
    _, blend, target, reached = _settings_view(request)
    latest = await asyncio.to_thread(plan_repo.latest_plan, ctx_of(request).store)
    if latest is None:  # the run above stored one unless the store was reset meanwhile
        raise ApiError(502, "planning_failed", "no plan stored")
    result = _optimizer_view(latest, blend, target, reached)
    return json_response({"success": result["success"], "result": result,
                          "timestamp": latest["created_at"]})


@router.route("GET", "/api/scores", summary="Stored security scores (total, group scores, "
              "when calculated), best first", response={"type": "object",
                                                        "required": ["scores"]})
async def scores(request: web.Request) -> web.Response:
    """Every stored score; components at /api/scores/{isin}."""
    rows = await asyncio.to_thread(scores_repo.read_scores, ctx_of(request).store)
    return json_response({"scores": rows, "count": len(rows)})


@router.route("GET", "/api/scores/{isin}", summary="One security's score with every group's "
              "explained components", response={"type": "object",
                                                "required": ["isin", "total_score"]})
async def score_of(request: web.Request) -> web.Response:
    """The stored score of one ISIN with its breakdown; 400 bad ISIN, 404 not scored."""
    try:
        isin = validate_isin(request.match_info["isin"])
    except IdentifierError as exc:
        raise bad_request(str(exc), code="invalid_isin") from None
    row = await asyncio.to_thread(scores_repo.read_score, ctx_of(request).store, isin)
    if row is None:
        raise not_found(f"no score for {isin} yet: the score_universe job and every plan "
                        "store scores", code="not_scored")
    return json_response(row)
