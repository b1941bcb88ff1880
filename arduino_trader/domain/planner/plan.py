"""``plan()``: the whole planning run from plain inputs to explained recommendations.

Pipeline: metrics (Numba) → security scores → regime effects and
forward adjustment → optimiser targets (buys the gates refuse are stated and capped) →
opportunities (diverse selection), all prepared by :mod:`.prepare` → sequences (patterns,
adaptive and regime patterns, combinations; diversity and correlation filters) → one
kernel call over all sequences × Monte-Carlo scenarios → beam search → best plan versus
doing nothing.
It never raises: bad input (no securities, no history, NaN or zero prices, an infeasible
optimisation, a cash-only account) gives a sound plan or ``nothing_to_do`` with the reason.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt
from threadpoolctl import ThreadpoolController

from .. import regime as rg
from ..position_limits import position_cap as cap_for
from ..scoring import kernels as k
from ..scoring.scorers import SecurityScore
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
from .generation import GenerationOptions, Seq, encode, generate
from .models import Candidate, Holding, PlanInput, PlannerSettings, PlanResult, SecurityInfo, Step
from .montecarlo import correlation, scenario_multipliers
from .optimizer_report import optimizer_fields
from .prepare import Prepared, prepare
from .rules import apply_rules
from .search import beam_search

F64 = npt.NDArray[np.float64]


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
    prep = prepare(inp, timings)
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
    prep = prepare(inp, timings)
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


__all__ = ["COMPONENTS", "EvaluationProblem", "evaluation_problem", "plan", "warm_up"]
