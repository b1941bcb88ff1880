"""``plan()``: the whole planning run from plain inputs to explained recommendations.

Pipeline: metrics (Numba) → security scores → regime effects and
forward adjustment → optimiser targets (buys the gates refuse are stated and capped) →
opportunities (diverse selection) → sequences (patterns, adaptive and regime patterns,
combinations; diversity and correlation filters) → one kernel call over all sequences ×
Monte-Carlo scenarios → beam search → best plan versus doing nothing.
It never raises: bad input (no securities, no history, NaN or zero prices, an infeasible
optimisation, a cash-only account) gives a sound plan or ``nothing_to_do`` with the reason.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import numpy.typing as npt
from threadpoolctl import ThreadpoolController

from .. import regime as rg
from ..optimizer import (
    MAX_CONCENTRATION,
    OptimizerAsset,
    OptimizerResult,
    cap_at_current,
    optimize,
)
from ..optimizer_risk import RiskMemo
from ..position_limits import position_cap as cap_for
from ..scoring import kernels as k
from ..scoring.scorers import DiversificationContext, SecurityScore, score_security
from ..scoring.sell import SellInputs, SellScore, Windfall, sell_score, windfall
from ..scoring.universe import metric_inputs
from .evaluation import (
    COMPONENTS,
    R_FEASIBLE,
    R_SCORE,
    EvalContext,
    SequenceBatch,
    evaluate,
    explain,
)
from .filters import correlation_conflicts
from .gates import optimiser_buy_gate
from .generation import GenerationOptions, Seq, encode, generate
from .models import Candidate, Holding, PlanInput, PlannerSettings, PlanResult, SecurityInfo, Step
from .montecarlo import correlation, scenario_multipliers
from .opportunities import (
    Universe,
    candidate_pool,
    heuristic_candidates,
    optimiser_buy_refusal,
    position_cap,
    weight_based_candidates,
)
from .optimizer_report import optimizer_fields
from .rules import apply_rules
from .search import beam_search

F64 = npt.NDArray[np.float64]
OTHER = "OTHER"
RESOLVE_REFUSED_SHARE = 0.05


def _f(x: float) -> float | None:
    return None if not math.isfinite(x) else float(x)


def _industries(sec: SecurityInfo) -> list[str]:
    return [p.strip() for p in (sec.industry or "").split(",") if p.strip()]


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


def _prepare(inp: PlanInput, timings: dict[str, float]) -> Prepared | str:
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
    country_group = [c2g.get(sec.country or "", sec.country or OTHER) if sec.country else OTHER
                     for sec in secs]
    group_current: dict[str, float] = {}
    if invested > 0:
        for i in range(n):
            if values[i] > 0:
                group_current[country_group[i]] = group_current.get(country_group[i], 0.0) \
                    + values[i] / invested
    ind_current: dict[str, float] = {}
    for i in range(n):
        inds = _industries(secs[i])
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
            country_group[i], tuple(_industries(sec)), inp.country_targets, group_current,
            inp.industry_targets, ind_current, bool(hold[i] > 0), loss, values[i] / total)
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
        windfalls[i] = windfall(gain, first, _f(m[k.M_CAGR_5Y]), _f(m[k.M_CAGR_10Y]))
        sma = m[k.M_SMA_200]
        sells[i] = sell_score(
            SellInputs(secs[i].symbol, hold[i], price_eur[i], avg_cost[i], values[i] / total,
                       group_current.get(country_group[i], 0.0),
                       tuple(ind_current.get(g, 0.0) for g in _industries(secs[i])),
                       first, last_buy,
                       last_sell if last_sell is not None
                       else inp.days_since_last_sell.get(secs[i].symbol),
                       _f(m[k.M_VOL_60D]), _f(m[k.M_VOLATILITY]),
                       _f(m[k.M_LAST] / sma - 1) if sma > 0 else None,
                       _f(m[k.M_CURRENT_DRAWDOWN]), None, secs[i].allow_sell,
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
                        [tuple(_industries(sec)) for sec in secs])
    forward = rg.forward_adjustment(inp.market.vix, inp.market.yield_curve_slope,
                                    inp.market.market_pe) \
        if s.enable_forward_adjustment else 0.0
    # Optimiser
    t0 = time.perf_counter()
    opt, refused = _optimise(inp, universe, metrics, prices, reserve, forward, warnings)
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
    ctx = _eval_context(inp, secs, metrics, scores, price_eur, hold, country_group, targets,
                        comp_w, cash, reserve)
    timings["opportunities"] = (time.perf_counter() - t0) * 1000
    country_gaps = {g: t - group_current.get(g, 0.0) for g, t in inp.country_targets.items()}
    industry_gaps = {g: t - ind_current.get(g, 0.0) for g, t in inp.industry_targets.items()}
    return Prepared(universe, metrics, scores, opt, ctx, pool, groups, warnings, refused,
                    forward, country_gaps, industry_gaps)


def _optimise(inp: PlanInput, u: Universe, metrics: F64, prices: F64, reserve: float,
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
            sec.symbol, _f(metrics[i, k.M_CAGR_5Y]) if math.isfinite(
                metrics[i, k.M_CAGR_5Y]) else _f(metrics[i, k.M_CAGR_10Y]),
            f.dividend_yield if f else None, sc.total, current,
            u.country_group[i], (_industries(sec) or [OTHER])[0], sec.allow_buy,
            sec.allow_sell, max(1, sec.min_lot) * u.price_eur[i] / total,
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


def _median_fill(x: F64, default: float) -> F64:
    ok = np.isfinite(x)
    fill = float(np.median(x[ok])) if ok.any() else default
    return np.where(ok, x, fill)


def _eval_context(inp: PlanInput, secs: Sequence[SecurityInfo], metrics: F64,
                  scores: Sequence[SecurityScore | None], price_eur: F64, hold: F64,
                  country_group: Sequence[str], targets: Mapping[str, float], comp_w: F64,
                  cash: float, reserve: float) -> EvalContext:
    """Per-security sub-score inputs; missing metrics take the universe median (neutral)."""
    s = inp.settings
    n = len(secs)
    score = np.array([sc.total if sc is not None else 0.5 for sc in scores])
    cagr = metrics[:, k.M_CAGR_5Y].copy()
    cagr = np.where(np.isfinite(cagr), cagr, metrics[:, k.M_CAGR_10Y])
    div = np.array([sec.fundamentals.dividend_yield if sec.fundamentals
                    and sec.fundamentals.dividend_yield is not None
                    and math.isfinite(sec.fundamentals.dividend_yield) else 0.0
                    for sec in secs])
    ret = np.where(np.isfinite(cagr), cagr, 0.15 * score) + div
    vol = _median_fill(metrics[:, k.M_VOLATILITY], 0.25)
    dd = np.abs(_median_fill(metrics[:, k.M_MAX_DRAWDOWN], -0.2))
    sharpe = _median_fill(metrics[:, k.M_SHARPE], 0.5)
    c_names = sorted(set(inp.country_targets) | set(country_group))
    c_index = {g: j for j, g in enumerate(c_names)}
    country = np.array([c_index[g] for g in country_group], dtype=np.int64)
    country_target = np.array([inp.country_targets.get(g, 0.0) for g in c_names])
    i_names = sorted(set(inp.industry_targets) | {g for sec in secs for g in _industries(sec)})
    i_index = {g: j for j, g in enumerate(i_names)}
    width = max([1] + [len(_industries(sec)) for sec in secs])
    ind_idx = np.full((n, width), -1, dtype=np.int64)
    ind_frac = np.zeros((n, width))
    for i, sec in enumerate(secs):
        inds = _industries(sec)
        for j, g in enumerate(inds):
            ind_idx[i, j] = i_index[g]
            ind_frac[i, j] = 1.0 / len(inds)
    industry_target = np.array([inp.industry_targets.get(g, 0.0) for g in i_names])
    target_w = np.array([targets.get(sec.symbol, 0.0) for sec in secs])
    return EvalContext(
        price_eur=price_eur, hold_qty=hold, ret=ret, promise=score, vol=vol, dd=dd,
        sharpe=sharpe, country=country, ind_idx=ind_idx, ind_frac=ind_frac, target_w=target_w,
        has_targets=bool(targets), country_target=country_target,
        industry_target=industry_target, comp_w=comp_w,
        regime=rg.regime_sign(inp.regime_score, s.regime_cuts), cash_eur=cash, reserve_eur=reserve,
        cost_fixed=s.transaction_cost_fixed, cost_pct=s.transaction_cost_percent,
        cost_penalty_factor=s.cost_penalty_factor)


def _risk_subset(p: Prepared, inp: PlanInput, cand_sec: npt.NDArray[np.int64]
                 ) -> tuple[npt.NDArray[np.int64], F64, F64]:
    """Securities that can be in an end state (held, targeted, traded), their daily
    returns (rows = all N; zeros outside the subset) and their unshrunk correlation."""
    ctx = p.ctx
    mask = (ctx.hold_qty > 0) | (ctx.target_w > 0)
    mask[cand_sec[cand_sec >= 0]] = True
    subset = np.flatnonzero(mask).astype(np.int64)
    returns = k.daily_returns(np.ascontiguousarray(inp.prices[subset], dtype=np.float64)) \
        if subset.size else np.zeros((0, 0))
    full = np.zeros((ctx.price_eur.size, returns.shape[1] if returns.size else 1))
    if subset.size:
        full[subset] = returns
    raw = correlation(full[subset], shrink=0.0) if subset.size else np.zeros((0, 0))
    return subset, full, raw


def _scenarios(p: Prepared, inp: PlanInput, subset: npt.NDArray[np.int64], full: F64,
               raw_corr: F64) -> F64:
    s = inp.settings
    mu = np.nan_to_num(p.metrics[:, k.M_CAGR_5Y], nan=0.05)
    sigma = p.metrics[:, k.M_VOLATILITY]
    return scenario_multipliers(p.ctx.price_eur.size, subset, mu, sigma, full,
                                s.monte_carlo_paths, s.monte_carlo_horizon_days,
                                s.monte_carlo_seed, raw_corr=raw_corr)


def _narrative(c: Candidate, sc: SecurityScore | None) -> str:
    verb = "Buy" if c.side == "BUY" else "Sell"
    score = f" (score {sc.total:.2f})" if sc is not None else ""
    return f"{verb} {c.quantity} {c.symbol}{score}: {c.reason}"


@dataclass(frozen=True)
class Generated:
    """The generated sequences (the first is "do nothing"), their batch, the scenario
    matrix, the correlation filter's conflict matrix and counts by origin."""

    sequences: list[Seq]
    batch: SequenceBatch
    scenarios: F64
    conflict: npt.NDArray[np.bool_] | None
    counts: dict[str, int]


def _generate_and_scenarios(prep: Prepared, inp: PlanInput, timings: dict[str, float]
                            ) -> Generated:
    s = inp.settings
    pool = prep.pool
    t0 = time.perf_counter()
    cand_sec = np.array([c.index for c in pool], dtype=np.int64)
    subset, full, raw_corr = _risk_subset(prep, inp, cand_sec)
    n = prep.ctx.price_eur.size
    conflict = correlation_conflicts(n, subset, raw_corr, s.correlation_threshold) \
        if s.enable_correlation_aware else None
    u = prep.universe
    options = GenerationOptions(
        country_group=[u.country_group[i] if u.securities[i].country else ""
                       for i in range(n)],
        industries=u.industries, country_gaps=prep.country_gaps,
        industry_gaps=prep.industry_gaps, regime=rg.label_for(inp.regime_score, s.regime_cuts),
        regime_patterns=s.enable_market_regime_scenarios, conflict=conflict,
        diversity_filter=s.enable_diversity_filter, diversity_weight=s.diversity_weight,
        cash=prep.universe.spendable_eur, cost_fixed=s.transaction_cost_fixed,
        cost_pct=s.transaction_cost_percent)
    stats: dict[str, int] = {}
    seqs, labels = generate(prep.groups, pool, s.max_plan_depth, prep.universe.spendable_eur,
                            s.combination_pool_per_side, s.priority_threshold,
                            s.max_sequences, options, stats)
    counts: dict[str, int] = dict(stats)
    for label in labels:
        key = label.split(":", 1)[0]
        counts[key] = counts.get(key, 0) + 1
    all_seqs: list[Seq] = [(), *seqs]
    batch = encode(all_seqs, pool, s.max_plan_depth)
    timings["generation"] = (time.perf_counter() - t0) * 1000
    t0 = time.perf_counter()
    mult = _scenarios(prep, inp, subset, full, raw_corr)
    timings["scenarios"] = (time.perf_counter() - t0) * 1000
    return Generated(all_seqs, batch, mult, conflict, counts)


@dataclass(frozen=True)
class EvaluationProblem:
    """The main evaluation of a run (for benchmarks and checks): the context, the generated
    sequences (the first is "do nothing"), their encoded batch and the scenario matrix."""

    prepared: Prepared
    sequences: list[Seq]
    batch: SequenceBatch
    scenarios: F64


def evaluation_problem(inp: PlanInput) -> EvaluationProblem | str:
    """Run the pipeline up to the main evaluation; a string says why there is none."""
    timings: dict[str, float] = {}
    prep = _prepare(inp, timings)
    if isinstance(prep, str):
        return prep
    if not prep.pool:
        return "no opportunities"
    gen = _generate_and_scenarios(prep, inp, timings)
    return EvaluationProblem(prep, gen.sequences, gen.batch, gen.scenarios)


_blas: tuple[int, ThreadpoolController] | None = None  # (len(sys.modules) when built, it)


def _blas_controller() -> ThreadpoolController:
    """A controller of the loaded thread pools. Building one scans every loaded shared
    library (~3 ms), so it is kept until a module import may have loaded another BLAS."""
    global _blas
    if _blas is None or _blas[0] != len(sys.modules):
        _blas = (len(sys.modules), ThreadpoolController())
    return _blas[1]


def plan(inp: PlanInput) -> PlanResult:
    """Plan once; never raises (an unexpected failure is reported as nothing to do).

    BLAS is limited to one thread while planning: OpenBLAS worker threads spin after each
    call and would steal the cores the parallel Numba kernel needs (measured: ×2 slower).
    """
    try:
        with _blas_controller().limit(limits=1, user_api="blas"):
            return _plan(inp)
    except Exception as exc:  # the planner must not take the actor down
        return PlanResult("nothing_to_do", f"planner failed: {type(exc).__name__}: {exc}")


def _plan(inp: PlanInput) -> PlanResult:
    """The searched plan, then the portfolio rules (:mod:`.rules`); the position cap is the
    universe-scaled one (:mod:`arduino_trader.domain.position_limits`)."""
    s = inp.settings
    inp = replace(inp, settings=replace(s, max_position_fraction=cap_for(
        s.max_position_fraction, s.position_cap_universe_multiple, len(inp.securities))))
    timings: dict[str, float] = {}
    t_start = time.perf_counter()
    prep = _prepare(inp, timings)
    if isinstance(prep, str):
        return PlanResult("nothing_to_do", prep)
    opt = prep.optimizer
    targets = dict(opt.target_weights) if opt is not None and opt.success else {}
    return apply_rules(_search(inp, prep, timings, t_start), prep.universe, inp, targets)


def _search(inp: PlanInput, prep: Prepared, timings: dict[str, float], t_start: float
            ) -> PlanResult:
    s: PlannerSettings = inp.settings
    ctx, pool = prep.ctx, prep.pool
    # End-state view: the portfolio terms only (quality, diversification, risk).
    state_w = ctx.comp_w * np.array([0.0, 1.0, 1.0, 1.0, 0.0])
    state_ctx = replace(ctx, comp_w=state_w / state_w.sum())
    empty = encode([()], pool, s.max_plan_depth)
    base_expl = explain(state_ctx, empty, 0)
    result = PlanResult(
        "nothing_to_do", "", current_score=base_expl.score, end_state_score=base_expl.score,
        components_before=base_expl.components,
        regime=rg.label_for(inp.regime_score, s.regime_cuts), cash_reserve_eur=ctx.reserve_eur,
        **optimizer_fields(prep.optimizer),
        warnings=(*prep.warnings, *(f"refused buy {sym}: {why}"
                                    for sym, why in sorted(prep.refused_buys.items()))),
        timings_ms=timings,
        security_scores=tuple(sc for sc in prep.scores if sc is not None),
        refused_buys=dict(prep.refused_buys), forward_adjustment=prep.forward_adjustment)
    if not pool:
        return replace(result, reason="no opportunities: no security passes the buy or sell "
                       "gates (score, cooldown, 52-week high, hold period, loss limit)")
    gen = _generate_and_scenarios(prep, inp, timings)
    all_seqs, batch, mult = gen.sequences, gen.batch, gen.scenarios
    result = replace(result, generation=gen.counts)
    t0 = time.perf_counter()
    rows = evaluate(ctx, batch, mult)
    timings["evaluation"] = (time.perf_counter() - t0) * 1000
    t0 = time.perf_counter()

    def score_fn(b: SequenceBatch) -> F64:
        return evaluate(ctx, b, mult)

    beam_seqs, beam_rows = beam_search(pool, score_fn, s.beam_width, s.max_plan_depth,
                                       s.beam_min_improvement, gen.conflict)
    timings["beam_search"] = (time.perf_counter() - t0) * 1000
    everything = all_seqs + beam_seqs
    results = np.vstack([rows, beam_rows]) if beam_rows.size else rows
    baseline = float(results[0, R_SCORE])
    result = replace(result, evaluated_count=int(results.shape[0]),
                     beam_evaluated=len(beam_seqs), monte_carlo_paths=int(mult.shape[0]),
                     baseline_robust_score=baseline, robust_score=baseline)
    feasible = np.flatnonzero(results[:, R_FEASIBLE] > 0)
    feasible = feasible[feasible > 0]
    if feasible.size == 0:
        timings["total"] = (time.perf_counter() - t_start) * 1000
        return replace(result, reason="no feasible sequence (cash above the reserve, "
                       "holdings)")
    # Rank by the full robust score (ties → fewer actions, then generation order); decide
    # on the end state alone: opportunity capture and regime fit rank sequences but cannot
    # justify trading, so the chosen sequence must raise the robust score of the portfolio
    # terms (quality, diversification, risk) net of the cost penalty versus doing nothing.
    lengths = np.array([len(everything[j]) for j in feasible])
    order = feasible[np.lexsort((feasible, lengths, -results[feasible, R_SCORE]))]
    top = [int(j) for j in order[: s.decision_candidates]]
    state_rows = evaluate(state_ctx, encode([(), *(everything[j] for j in top)], pool,
                                            s.max_plan_depth), mult)
    gains = state_rows[1:, R_SCORE] - state_rows[0, R_SCORE]
    chosen = next((k for k in range(len(top)) if gains[k] >= s.min_score_improvement), None)
    best_full = float(results[top[0], R_SCORE])
    if chosen is None:
        timings["total"] = (time.perf_counter() - t_start) * 1000
        return replace(result, reason=f"no sequence improves the robust end state enough net "
                       f"of costs (best gain {float(gains.max()):+.4f}, needed "
                       f"{s.min_score_improvement:.4f}; top sequence scored {best_full:.4f})")
    best = top[chosen]
    best_score = float(results[best, R_SCORE])
    result = replace(result, end_state_gain=float(gains[chosen]))
    steps = _explain_steps(prep, state_ctx, everything[best], base_expl.score)
    final = explain(state_ctx, encode([everything[best]], pool, s.max_plan_depth), 0)
    timings["total"] = (time.perf_counter() - t_start) * 1000
    return replace(
        result, status="plan", reason=f"{len(steps)} step(s) raise the robust end-state score "
        f"by {float(gains[chosen]):+.4f} net of costs (sequence score {best_score:.4f})",
        steps=tuple(steps),
        end_state_score=final.score, robust_score=best_score,
        components_after=final.components)


def _explain_steps(p: Prepared, ctx: EvalContext, seq: Seq, start: float) -> list[Step]:
    """One step per action; before/after = today's-price end-state score of the prefixes."""
    pool = p.pool
    depth = max(1, len(seq))
    prefixes = [seq[: j + 1] for j in range(len(seq))]
    batch = encode(prefixes, pool, depth)
    steps: list[Step] = []
    before = start
    for j, ci in enumerate(seq):
        c = pool[ci]
        e = explain(ctx, batch, j)
        sc = p.scores[c.index]
        cost = p.ctx.cost_fixed + p.ctx.cost_pct * c.value_eur
        sec = p.universe.securities[c.index]
        steps.append(Step(
            j + 1, c.side, c.symbol, sec.name or c.symbol, c.quantity, c.price, c.currency,
            round(c.value_eur, 2), round(cost, 2), c.category, round(c.priority, 4),
            _narrative(c, sc), round(before, 6), round(e.score, 6),
            sc.total if sc is not None else 0.0,
            sc.explain() if sc is not None else {"note": "not scored"}))
        before = e.score
    return steps


def warm_up() -> None:
    """Compile (or load from the Numba cache) every kernel signature a plan uses.

    The input is small but must go all the way: securities that pass the buy and sell
    gates (seeded random walks with a recent dip), so that sequences are generated,
    evaluated on Monte-Carlo paths and explained, exactly as a real plan does."""
    k.warm_up()
    n, t = 6, 600
    walks = np.cumsum(np.random.default_rng(7).normal(0.0006, 0.015, size=(n, t)), axis=1)
    prices = 50.0 * np.exp(walks)
    prices[:, -30:] *= np.linspace(1.0, 0.93, 30)  # below the 52-week high
    secs = [SecurityInfo(f"W{i}", country="AB"[i % 2], industry="XYZ"[i % 3])
            for i in range(n)]
    holdings = [Holding("W1", 10.0, 20.0, 400.0, 400.0, None),
                Holding("W2", 5.0, 30.0, 400.0, 400.0, None)]
    plan(PlanInput(secs, prices, holdings, 5000.0, country_targets={"A": 0.5, "B": 0.5},
                   settings=PlannerSettings(monte_carlo_paths=4, max_sequences=20,
                                            use_optimizer=False, min_security_score=0.0)))


__all__ = ["COMPONENTS", "EvaluationProblem", "Prepared", "evaluation_problem", "plan",
           "warm_up"]
