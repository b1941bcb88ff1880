"""Per-bucket planning (spec/portfolio.md §1.10): one account's planning input cut into
one input per bucket, and each bucket's result made its own.

A bucket plans over its own securities (a symbol belongs to exactly one bucket: its
``security_buckets`` row, else core), with its own cash and positions in those securities.
A satellite plans with its mapped parameters: hold duration → minimum hold days, maximum
position size → per-security weight cap, follow-regime → regime detection. Its buys are
then scaled by its effective aggression and floored to whole lots (sells never scaled; a
buy scaled to zero is dropped), reasons prefixed ``[<bucket>]``.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, replace
from decimal import Decimal

import numpy as np

from ..satellites.aggression import scale_buy
from ..satellites.parameters import SatelliteParameters
from ..satellites.records import CORE_ID
from .models import PlanInput, PlannerSettings, PlanResult, SecurityInfo, Step


@dataclass(frozen=True)
class BucketPlan:
    """A bucket's planning result."""

    bucket_id: str
    result: PlanResult


def bucket_settings(base: PlannerSettings, params: SatelliteParameters | None
                    ) -> PlannerSettings:
    """The planner knobs of a bucket: core keeps ``base``; a satellite's hold duration
    and regime preference replace the global ones."""
    if params is None:
        return base
    return replace(base, min_hold_days=float(params.target_hold_days),
                   market_regime_detection_enabled=bool(params.follow_regime))


def _capped(sec: SecurityInfo, cap: float | None) -> SecurityInfo:
    if cap is None:
        return sec
    limit = cap if sec.max_target is None else min(sec.max_target, cap)
    return replace(sec, max_target=limit,
                   min_target=None if sec.min_target is None else min(sec.min_target, limit))


def scoped_input(inp: PlanInput, symbols: Collection[str], cash_eur: float,
                 params: SatelliteParameters | None = None) -> PlanInput:
    """``inp`` restricted to ``symbols`` (securities, price rows, holdings, day counts),
    with ``cash_eur`` and the bucket's settings."""
    keep = [i for i, s in enumerate(inp.securities) if s.symbol in symbols]
    cap = float(params.position_size_max) if params is not None else None
    securities = [_capped(inp.securities[i], cap) for i in keep]
    prices = np.asarray(inp.prices, dtype=np.float64)
    rows = prices[keep] if prices.ndim == 2 and prices.shape[0] == len(inp.securities) \
        else np.zeros((0, prices.shape[1] if prices.ndim == 2 else 0))
    names = {s.symbol for s in securities}
    return replace(
        inp, securities=securities, prices=rows,
        holdings=[h for h in inp.holdings if h.symbol in names], cash_eur=cash_eur,
        days_since_last_buy={k: v for k, v in inp.days_since_last_buy.items() if k in names},
        days_since_last_sell={k: v for k, v in inp.days_since_last_sell.items()
                              if k in names},
        settings=bucket_settings(inp.settings, params))


def own_result(bucket_id: str, result: PlanResult, buy_scale: Decimal,
               lots: dict[str, int], settings: PlannerSettings) -> PlanResult:
    """``result`` made the bucket's: buys scaled by ``buy_scale`` to whole lots (a buy
    scaled to 0 is dropped, steps renumbered), reasons prefixed ``[<bucket>]`` for a
    satellite. Core with scale 1 is returned unchanged."""
    if bucket_id == CORE_ID and buy_scale >= 1:
        return result
    steps: list[Step] = []
    for s in result.steps:
        qty = s.quantity
        value, cost = s.estimated_value_eur, s.cost_eur
        note = ""
        if s.side == "BUY" and buy_scale < 1:
            qty = int(scale_buy(Decimal(s.quantity), lots.get(s.symbol, 1), buy_scale))
            if qty <= 0:
                continue
            if qty != s.quantity:
                value = round(s.estimated_value_eur * qty / s.quantity, 2)
                cost = round(settings.transaction_cost_fixed
                             + settings.transaction_cost_percent * value, 2)
                note = f" (scaled {s.quantity}→{qty} by aggression {buy_scale})"
        reason = s.reason + note
        if bucket_id != CORE_ID:
            reason = f"[{bucket_id}] {reason}"
        steps.append(replace(s, step=len(steps) + 1, quantity=qty,
                             estimated_value_eur=value, cost_eur=cost, reason=reason))
    if result.status == "plan" and not steps:
        return replace(result, status="nothing_to_do", steps=(),
                       reason=f"every buy scaled to 0 by aggression {buy_scale}: "
                       f"{result.reason}")
    return replace(result, steps=tuple(steps))


__all__ = ["BucketPlan", "bucket_settings", "own_result", "scoped_input"]
