"""The first phase of a planning run: plain inputs → :class:`Prepared`.

Metrics (Numba) → security scores → regime effects (cash reserve, component weights),
windfall and sell scores, quality gates and forward adjustment → optimiser targets
(:mod:`.optimiser_targets`) → opportunity pool and its groups → the evaluation context
(:mod:`.eval_context`). Bad input (no securities, a price matrix of the wrong shape,
nothing valued) is a string saying why there is nothing to plan.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from .. import regime as rg
from ..allocation import OTHER_GROUP
from ..optimizer import OptimizerResult
from ..scoring import kernels as k
from ..scoring.scorers import DiversificationContext, SecurityScore, score_security
from ..scoring.sell import SellInputs, SellScore, Windfall, sell_score, windfall
from ..scoring.universe import finite_or_none, metric_inputs
from .eval_context import eval_context
from .evaluation import EvalContext
from .gates import optimiser_buy_gate
from .groups import industries_of
from .models import Candidate, PlanInput
from .opportunities import (
    Universe,
    candidate_pool,
    heuristic_candidates,
    weight_based_candidates,
)
from .optimiser_targets import optimiser_targets

F64 = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Prepared:
    """Intermediate state of a run, kept for explanations and tests."""

    universe: Universe
    metrics: F64
    scores: list[SecurityScore | None]
    optimizer: OptimizerResult | None
    ctx: EvalContext
    pool: list[Candidate]
    groups: dict[str, list[int]]
    warnings: list[str]
    refused_buys: dict[str, str] = field(default_factory=dict)
    forward_adjustment: float = 0.0
    country_gaps: dict[str, float] = field(default_factory=dict)
    industry_gaps: dict[str, float] = field(default_factory=dict)


def prepare(inp: PlanInput, timings: dict[str, float]) -> Prepared | str:
    """Everything a run needs before generating sequences; a string says why there is
    nothing to plan. Phase wall times (ms) go into ``timings``."""
    s = inp.settings
    warnings: list[str] = []
    secs = list(inp.securities)
    n = len(secs)
    prices = np.asarray(inp.prices, dtype=np.float64)
    if prices.ndim != 2 or prices.shape[0] != n:
        return f"price matrix shape {prices.shape} does not match {n} securities"
    prices = np.ascontiguousarray(prices)
    if n == 0:
        return "empty universe: no securities to plan for"
    t0 = time.perf_counter()
    metrics = k.security_metrics(prices, s.risk_free_rate)
    timings["metrics"] = (time.perf_counter() - t0) * 1000
    t0 = time.perf_counter()
    index = {sec.symbol: i for i, sec in enumerate(secs)}
    fx = np.array([sec.fx_rate if sec.fx_rate and sec.fx_rate > 0 else np.nan for sec in secs])
    price = metrics[:, k.M_LAST]
    price_eur = price / fx
    price_eur = np.where(np.isfinite(price_eur) & (price_eur > 0), price_eur, 0.0)
    hold = np.zeros(n)
    avg_cost = np.zeros(n)
    held_info: dict[int, tuple[float | None, float | None, float | None]] = {}
    for h in inp.holdings:
        i = index.get(h.symbol)
        if i is None:
            warnings.append(f"holding {h.symbol} is not in the universe: ignored")
            continue
        if not (h.quantity > 0):
            continue
        if price_eur[i] <= 0:
            warnings.append(f"holding {h.symbol} has no valid price: left out of the plan")
            continue
        hold[i] = h.quantity
        avg_cost[i] = h.avg_price / fx[i] if h.avg_price > 0 and np.isfinite(fx[i]) else 0.0
        held_info[i] = (h.days_since_first_buy, h.days_since_last_buy, h.days_since_last_sell)
    cash = float(inp.cash_eur) if math.isfinite(inp.cash_eur) else 0.0
    values = hold * price_eur
    invested = float(values.sum())
    total = invested + max(0.0, cash)
    if total <= 0:
        return "nothing to plan: no cash and no valued positions"
    c2g = inp.country_to_group
    country_group = [c2g.get(sec.country or "", sec.country or OTHER_GROUP) if sec.country
                     else OTHER_GROUP for sec in secs]
    group_current: dict[str, float] = {}
    if invested > 0:
        for i in range(n):
            if values[i] > 0:
                group_current[country_group[i]] = group_current.get(country_group[i], 0.0) \
                    + values[i] / invested
    ind_current: dict[str, float] = {}
    for i in range(n):
        inds = industries_of(secs[i].industry)
        if values[i] > 0 and inds:
            for g in inds:
                ind_current[g] = ind_current.get(g, 0.0) + values[i] / invested / len(inds)
    # Scores
    scores: list[SecurityScore | None] = []
    for i, sec in enumerate(secs):
        m = metrics[i]
        if m[k.M_N_VALID] < 1 or price_eur[i] <= 0:
            scores.append(None)
            continue
        mi = metric_inputs(m)
        loss = 1 - price_eur[i] / avg_cost[i] if avg_cost[i] > 0 else None
        dctx = DiversificationContext(
            country_group[i], tuple(industries_of(sec.industry)), inp.country_targets,
            group_current, inp.industry_targets, ind_current, bool(hold[i] > 0), loss,
            values[i] / total)
        scores.append(score_security(sec.symbol, mi, sec.fundamentals, dctx,
                                     target_return=s.target_annual_return,
                                     market_pe=s.market_avg_pe))
    timings["scoring"] = (time.perf_counter() - t0) * 1000
    # Regime effects
    reserve = rg.cash_reserve(inp.regime_score, total, s.min_cash_reserve,
                              {"bull": s.regime_cash_reserve.get("bull", 0.02),
                               "sideways": s.regime_cash_reserve.get("sideways", 0.03),
                               "bear": s.regime_cash_reserve.get("bear", 0.05)},
                              s.market_regime_detection_enabled, s.regime_cuts)
    comp_w = rg.component_weights(inp.regime_score, s.regime_cuts)
    # Windfall and sell scores
    windfalls: dict[int, Windfall] = {}
    sells: dict[int, SellScore] = {}
    for i, (first, last_buy, last_sell) in held_info.items():
        m = metrics[i]
        gain = price_eur[i] / avg_cost[i] - 1 if avg_cost[i] > 0 else 0.0
        windfalls[i] = windfall(gain, first, finite_or_none(m[k.M_CAGR_5Y]),
                                finite_or_none(m[k.M_CAGR_10Y]))
        sma = m[k.M_SMA_200]
        sells[i] = sell_score(
            SellInputs(secs[i].symbol, hold[i], price_eur[i], avg_cost[i], values[i] / total,
                       group_current.get(country_group[i], 0.0),
                       tuple(ind_current.get(g, 0.0) for g in industries_of(secs[i].industry)),
                       first, last_buy,
                       last_sell if last_sell is not None
                       else inp.days_since_last_sell.get(secs[i].symbol),
                       finite_or_none(m[k.M_VOL_60D]), finite_or_none(m[k.M_VOLATILITY]),
                       finite_or_none(m[k.M_LAST] / sma - 1) if sma > 0 else None,
                       finite_or_none(m[k.M_CURRENT_DRAWDOWN]), None, secs[i].allow_sell,
                       secs[i].min_lot),
            max_loss_threshold=s.max_loss_threshold, min_hold_days=s.min_hold_days,
            sell_cooldown_days=s.sell_cooldown_days)
    high = metrics[:, k.M_HIGH_52W]
    market_pe = inp.market.market_pe if inp.market.market_pe is not None \
        and math.isfinite(inp.market.market_pe) and inp.market.market_pe > 0 \
        else s.market_avg_pe
    gate: dict[int, str] = {}
    if s.enable_quality_gates:
        for i, sec in enumerate(secs):
            reason = optimiser_buy_gate(scores[i], metrics[i], sec.fundamentals,
                                        min_quality=s.quality_gate_min_quality,
                                        market_pe=market_pe)
            if reason is not None:
                gate[i] = reason
    universe = Universe(secs, price, price_eur, hold, avg_cost, np.nan_to_num(high, nan=0.0),
                        scores, sells, windfalls, country_group, group_current,
                        dict(inp.country_targets), invested, total, max(0.0, cash - reserve),
                        dict(inp.days_since_last_buy), gate,
                        [tuple(industries_of(sec.industry)) for sec in secs])
    forward = rg.forward_adjustment(inp.market.vix, inp.market.yield_curve_slope,
                                    inp.market.market_pe) \
        if s.enable_forward_adjustment else 0.0
    # Optimiser
    t0 = time.perf_counter()
    opt, refused = optimiser_targets(inp, universe, metrics, prices, reserve, forward, warnings)
    timings["optimizer"] = (time.perf_counter() - t0) * 1000
    t0 = time.perf_counter()
    cats: dict[str, list[Candidate]] = heuristic_candidates(universe, s)
    targets = opt.target_weights if opt is not None and opt.success else {}
    if targets:
        cats.update(weight_based_candidates(universe, s, targets))
    pool = candidate_pool(cats)
    pos = {(c.symbol, c.side): j for j, c in enumerate(pool)}
    groups = {name: [pos[(c.symbol, c.side)] for c in cs] for name, cs in cats.items()}
    # Evaluation context
    ctx = eval_context(inp, secs, metrics, scores, price_eur, hold, country_group, targets,
                        comp_w, cash, reserve)
    timings["opportunities"] = (time.perf_counter() - t0) * 1000
    country_gaps = {g: t - group_current.get(g, 0.0) for g, t in inp.country_targets.items()}
    industry_gaps = {g: t - ind_current.get(g, 0.0) for g, t in inp.industry_targets.items()}
    return Prepared(universe, metrics, scores, opt, ctx, pool, groups, warnings, refused,
                    forward, country_gaps, industry_gaps)
