"""Optimiser targets the planner can act on, and the buys it wanted but may not make.

Builds each scored security's :class:`OptimizerAsset` (bounds from the position cap and
the owner's per-security targets), runs :func:`optimize`, and caps every security whose
buy is refused at its current weight: by a second solve when the refused weight is
material, else by spreading the freed weight pro rata (:func:`cap_at_current`).
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import numpy.typing as npt

from .. import regime as rg
from ..allocation import OTHER_GROUP
from ..optimizer import (
    MAX_CONCENTRATION,
    OptimizerAsset,
    OptimizerResult,
    cap_at_current,
    optimize,
)
from ..optimizer_risk import RiskMemo
from ..scoring import kernels as k
from ..scoring.universe import finite_or_none
from .groups import industries_of
from .models import PlanInput
from .opportunities import Universe, optimiser_buy_refusal, position_cap

F64 = npt.NDArray[np.float64]
RESOLVE_REFUSED_SHARE = 0.05


def optimiser_targets(inp: PlanInput, u: Universe, metrics: F64, prices: F64, reserve: float,
              forward: float, warnings: list[str]
              ) -> tuple[OptimizerResult | None, dict[str, str]]:
    """Optimiser targets the planner can act on, and the buys it wanted but may not make.

    The optimiser sees every security; when it raises the weight of a security whose buy is
    refused (buy gates or quality gates), the refusal is recorded with its reason and every
    refused security is capped at its current weight, so the targets — and the cash they
    deploy — go to securities that can be bought: by a second solve when the refused
    weight is material (≥ ``RESOLVE_REFUSED_SHARE`` of the portfolio: the optimiser then
    re-balances risk over what is left), else by spreading the freed weight pro rata
    (:func:`cap_at_current`, no second solve).
    """
    s = inp.settings
    if not s.use_optimizer:
        return None, {}
    secs, scores, total = u.securities, u.scores, u.total_eur
    cap = position_cap(s)
    assets: list[OptimizerAsset] = []
    rows: list[int] = []
    for i, sec in enumerate(secs):
        sc = scores[i]
        if sc is None:
            continue
        f = sec.fundamentals
        current = u.hold_qty[i] * u.price_eur[i] / total
        # Buys stop at the executor's position guardrail; a position already above it is
        # not trimmed for that (only by its own maximum: the security's, else the 20 %
        # concentration bound).
        ceiling = max(MAX_CONCENTRATION, cap) if sec.max_target is None else sec.max_target
        upper = min(ceiling, max(cap, current))
        assets.append(OptimizerAsset(
            sec.symbol, finite_or_none(metrics[i, k.M_CAGR_5Y]) if math.isfinite(
                metrics[i, k.M_CAGR_5Y]) else finite_or_none(metrics[i, k.M_CAGR_10Y]),
            f.dividend_yield if f else None, sc.total, current,
            u.country_group[i], (industries_of(sec.industry) or [OTHER_GROUP])[0],
            sec.allow_buy, sec.allow_sell, max(1, sec.min_lot) * u.price_eur[i] / total,
            sec.min_target, upper, sec.priority_multiplier, sec.dividend_bonus))
        rows.append(i)
    if not assets:
        return None, {}

    window = prices[rows]
    memo: RiskMemo = {}  # a re-run over the same securities reuses covariance and HRP

    def run(batch: list[OptimizerAsset]) -> OptimizerResult:
        return optimize(batch, window, country_targets=inp.country_targets,
                        industry_targets=inp.industry_targets, blend=s.optimizer_blend,
                        target_return=s.optimizer_target_return,
                        reserve_share=min(1.0, reserve / total),
                        regime_weights=rg.expected_return_weights(inp.regime_score, s.regime_cuts),
                        portfolio_value=total, cost_fixed=s.transaction_cost_fixed,
                        cost_pct=s.transaction_cost_percent, forward_adjustment=forward,
                        risk_memo=memo)

    opt = run(assets)
    refused: dict[str, str] = {}
    blocked: set[int] = set()
    if opt.success:
        for a, i in zip(assets, rows, strict=True):
            reason = optimiser_buy_refusal(u, i, s) if a.allow_buy else None
            if reason is None:
                continue
            blocked.add(i)
            target = opt.target_weights.get(a.symbol, 0.0)
            if target - a.current_weight > 0.005:
                refused[a.symbol] = (f"optimiser target {target:.1%} vs "
                                     f"{a.current_weight:.1%} now refused: {reason}")
    if refused:
        capped_syms = {assets[j].symbol for j, i in enumerate(rows) if i in blocked}
        excess = sum(max(0.0, opt.target_weights.get(a.symbol, 0.0) - a.current_weight)
                     for a in assets if a.symbol in refused)
        again = None
        if excess >= RESOLVE_REFUSED_SHARE:
            again = run([replace(a, allow_buy=False) if a.symbol in capped_syms else a
                         for a in assets])
            if not again.success:
                warnings.append(f"optimiser re-run without refused buys failed: {again.error}")
                again = None
        opt = again if again is not None else \
            cap_at_current(opt, assets, capped_syms, min(1.0, reserve / total))
    if not opt.success:
        warnings.append(f"optimiser: {opt.error}; heuristic opportunities only")
    return opt, refused
