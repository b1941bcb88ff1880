"""The evaluation kernel: every sequence × every Monte-Carlo scenario in one Numba call.

Computes the unified end-state score (the weighted sub-scores below) on a simulation in
which trades happen now at today's EUR prices, costs (fixed + fraction of value) are
paid from cash, total = invested + cash, and each scenario re-prices *every* holding by a
per-security multiplier (common random numbers: the same scenario matrix for every
sequence). The optimiser-alignment sub-score is measured at today's prices (it judges
the trades' intent, not price noise) and counts the cash line against the share the
targets leave for it; every other term is re-priced per scenario. Cash earns 0 and is
neutral (0.5) by its share in promise and every risk term, so idle cash above the
reserve is neither a safe haven nor a penalty in itself. A
sequence's robust score is 0.4·worst + 0.3·p10 + 0.3·mean over scenarios,
minus the cost penalty (cost / pre-trade total × ``cost_penalty_factor``), clamped to
[0, 1]. An infeasible sequence (cash walk fails, selling more than held) scores 0.

The per-security sub-score vectors are fixed for a planning run: a sequence only
changes quantities, so scoring is weighted sums plus group sums. ``tests/reference_evaluation.py``
holds a plain NumPy implementation of the same maths that this kernel must match.
A sequence's own walk and terms are :mod:`.sequence_walk`, the score of one end state
:mod:`.end_state_score`; the kernels here compile them in.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from numba import njit, prange

from .end_state_score import alignment, score_sums
from .sequence_walk import sequence_terms, simulate, touched

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]

# Columns of the kernel output.
R_SCORE = 0
R_WORST = 1
R_P10 = 2
R_MEAN = 3
R_COST = 4
R_FEASIBLE = 5
N_RESULT = 6

# Component order (weights vector and explanation).
COMPONENTS: tuple[str, ...] = (
    "opportunity_capture", "portfolio_quality", "diversification_alignment",
    "risk_adjusted", "regime_robustness",
)
BASE_COMPONENT_WEIGHTS = np.array([0.30, 0.25, 0.20, 0.15, 0.10])
# Sub-scores reported by explain (index → name).
SUBSCORES: tuple[str, ...] = (
    "windfall", "priority", "technical", "total_return", "promise", "stability",
    "geography", "industry", "optimizer_alignment", "sharpe", "volatility", "drawdown",
    "regime_alignment", "robustness",
)
N_SUB = len(SUBSCORES)
_PARALLEL_LOCK = threading.Lock()


@dataclass(frozen=True)
class EvalContext:
    """Everything the kernel needs that does not depend on the sequence (float64/int64).

    Per security (N): ``price_eur`` (EUR per unit today), ``hold_qty``; sub-score inputs
    ``ret`` (expected CAGR + dividend yield), ``promise`` (security score), ``vol``
    (annual volatility), ``dd`` (|max drawdown|), ``sharpe``; ``country`` group index
    (−1 = none); ``ind_idx``/``ind_frac`` (N × L) industry groups and their shares
    (−1 padding); ``target_w`` optimiser targets (fractions of the total). Group targets
    ``country_target`` and ``industry_target``. ``comp_w`` the five component weights
    (regime-adjusted, sum 1); ``regime`` +1 bull / −1 bear / 0 sideways.
    """

    price_eur: F64
    hold_qty: F64
    ret: F64
    promise: F64
    vol: F64
    dd: F64
    sharpe: F64
    country: I64
    ind_idx: I64
    ind_frac: F64
    target_w: F64
    has_targets: bool
    country_target: F64
    industry_target: F64
    comp_w: F64
    regime: int
    cash_eur: float
    reserve_eur: float
    cost_fixed: float
    cost_pct: float
    cost_penalty_factor: float


@dataclass(frozen=True)
class SequenceBatch:
    """S sequences of ≤ D actions, padded with ``sec = −1``.

    Per action: security index, side (+1 buy / −1 sell), quantity (units), and the
    sequence-only sub-score inputs: windfall value, priority, technical value.
    """

    length: I64
    sec: I64
    side: I64
    qty: F64
    windfall: F64
    priority: F64
    technical: F64

    @property
    def count(self) -> int:
        """Number of sequences."""
        return int(self.length.shape[0])


@njit(cache=True, nogil=True, error_model="numpy")
def _worst_and_quantile(x: F64, q: float) -> tuple[float, float]:
    """(min, linear-interpolated q-quantile) in O(n) by partitioning (same as np.quantile)."""
    n = x.size
    pos = q * (n - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, n - 1)
    part = np.partition(x, hi)
    x_hi = part[hi]
    x_lo = x_hi
    worst = x_hi
    if hi > 0:
        x_lo = part[0]
        worst = part[0]
        for j in range(1, hi):
            v = part[j]
            if v > x_lo:
                x_lo = v
            if v < worst:
                worst = v
    if hi == lo:
        return worst, x_hi
    return worst, x_lo + (x_hi - x_lo) * (pos - lo)


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _add_value(acc: F64, i: int, v: float, ret: F64, promise: F64, vol: F64, dd: F64,
               sharpe: F64, country: I64, ind_idx: I64, ind_frac: F64, n_cg: int) -> None:
    """Add EUR value ``v`` of security ``i`` to the running sums ``acc``."""
    acc[0] += v
    acc[1] += v * ret[i]
    acc[2] += v * promise[i]
    acc[3] += v * vol[i]
    acc[4] += v * dd[i]
    acc[5] += v * sharpe[i]
    c = country[i]
    if c >= 0:
        acc[6 + c] += v
    for j in range(ind_idx.shape[1]):
        g = ind_idx[i, j]
        if g >= 0:
            acc[6 + n_cg + g] += v * ind_frac[i, j]


@njit(cache=True, nogil=True, error_model="numpy")
def path_bases(mult: F64, held: I64, hold_qty: F64, price_eur: F64, ret: F64, promise: F64,
               vol: F64, dd: F64, sharpe: F64, country: I64, ind_idx: I64, ind_frac: F64,
               n_cg: int, n_ig: int) -> F64:
    """Per scenario, the sums over today's holdings: [invested, Σv·ret, Σv·promise, Σv·vol,
    Σv·dd, Σv·sharpe, country values…, industry values…]."""
    n_paths = mult.shape[0]
    out = np.zeros((n_paths, 6 + n_cg + n_ig))
    for p in range(n_paths):
        for k in range(held.size):
            i = held[k]
            _add_value(out[p], i, hold_qty[i] * price_eur[i] * mult[p, i], ret, promise, vol,
                       dd, sharpe, country, ind_idx, ind_frac, n_cg)
    return out


@njit(cache=True, nogil=True, parallel=True, error_model="numpy")
def evaluate_kernel(length: I64, sec: I64, side: I64, qty: F64, windfall: F64, priority: F64,
                    technical: F64, mult: F64, rel: I64, price_eur: F64, hold_qty: F64,
                    ret: F64, promise: F64, vol: F64, dd: F64, sharpe: F64, country: I64,
                    ind_idx: I64, ind_frac: F64, target_w: F64, has_targets: bool,
                    country_target: F64, industry_target: F64, comp_w: F64, regime: int,
                    cash0: float, reserve: float, cost_fixed: float, cost_pct: float,
                    penalty_factor: float) -> F64:
    """Robust score of every sequence over every scenario row of ``mult`` (S × N_RESULT).

    ``rel`` lists every security that is held, targeted or traded by any sequence. Per
    scenario the sums over today's holdings are computed once (:func:`path_bases`); a
    sequence then only adds the value changes of the ≤ D securities it trades.
    """
    n_seq = length.shape[0]
    n_paths = mult.shape[0]
    n_cg = country_target.size
    n_grp = n_cg + industry_target.size
    out = np.zeros((n_seq, N_RESULT))
    total0 = cash0
    n_held = 0
    for k in range(rel.size):
        total0 += hold_qty[rel[k]] * price_eur[rel[k]]
        if hold_qty[rel[k]] > 0.0:
            n_held += 1
    if total0 <= 0.0:
        total0 = 1e-12
    held = np.empty(n_held, dtype=np.int64)
    j = 0
    for k in range(rel.size):
        if hold_qty[rel[k]] > 0.0:
            held[j] = rel[k]
            j += 1
    base = path_bases(mult, held, hold_qty, price_eur, ret, promise, vol, dd, sharpe, country,
                      ind_idx, ind_frac, n_cg, industry_target.size)
    mult_t = np.ascontiguousarray(mult.T)  # security-major: a sequence streams its rows
    for s in prange(n_seq):
        q = hold_qty.copy()
        ok, cash, cost = simulate(s, length, sec, side, qty, price_eur, q, cash0, reserve,
                                  cost_fixed, cost_pct)
        out[s, R_COST] = cost
        if not ok:
            continue
        sub = np.zeros(N_SUB)
        opp, reg = sequence_terms(s, length, sec, side, windfall, priority, technical,
                                  regime, sub)
        align = alignment(q, rel, cash, price_eur, target_w, has_targets)
        idx, dq = touched(s, length, sec, q, hold_qty)
        nt = idx.size
        # Per touched security: EUR value change per unit multiplier and its metric rows.
        cv = np.empty(nt)
        t_ret = np.empty(nt)
        t_prom = np.empty(nt)
        t_vol = np.empty(nt)
        t_dd = np.empty(nt)
        t_sh = np.empty(nt)
        for t in range(nt):
            i = idx[t]
            cv[t] = dq[t] * price_eur[i]
            t_ret[t] = ret[i]
            t_prom[t] = promise[i]
            t_vol[t] = vol[i]
            t_dd[t] = dd[i]
            t_sh[t] = sharpe[i]
        grp = np.empty(n_grp)
        scores = np.empty(n_paths)
        for p in range(n_paths):
            inv = base[p, 0]
            s_ret = base[p, 1]
            s_prom = base[p, 2]
            s_vol = base[p, 3]
            s_dd = base[p, 4]
            s_sh = base[p, 5]
            for g in range(n_grp):
                grp[g] = base[p, 6 + g]
            for t in range(nt):
                i = idx[t]
                v = cv[t] * mult_t[i, p]
                inv += v
                s_ret += v * t_ret[t]
                s_prom += v * t_prom[t]
                s_vol += v * t_vol[t]
                s_dd += v * t_dd[t]
                s_sh += v * t_sh[t]
                c = country[i]
                if c >= 0:
                    grp[c] += v
                for j in range(ind_idx.shape[1]):
                    g = ind_idx[i, j]
                    if g >= 0:
                        grp[n_cg + g] += v * ind_frac[i, j]
            scores[p] = score_sums(inv, s_ret, s_prom, s_vol, s_dd, s_sh, grp, cash,
                                   country_target, industry_target, align, comp_w, opp, reg,
                                   sub)
        mean = scores.sum() / n_paths
        worst, p10 = _worst_and_quantile(scores, 0.10)
        robust = 0.4 * worst + 0.3 * p10 + 0.3 * mean
        penalty = cost / total0 * penalty_factor
        out[s, R_SCORE] = min(1.0, max(0.0, robust - penalty))
        out[s, R_WORST] = worst
        out[s, R_P10] = p10
        out[s, R_MEAN] = mean
        out[s, R_FEASIBLE] = 1.0
    return out


@njit(cache=True, nogil=True, error_model="numpy")
def explain_kernel(s: int, length: I64, sec: I64, side: I64, qty: F64, windfall: F64,
                   priority: F64, technical: F64, rel: I64, price_eur: F64, hold_qty: F64,
                   ret: F64, promise: F64, vol: F64, dd: F64, sharpe: F64, country: I64,
                   ind_idx: I64, ind_frac: F64, target_w: F64, has_targets: bool,
                   country_target: F64, industry_target: F64, comp_w: F64, regime: int,
                   cash0: float, reserve: float, cost_fixed: float,
                   cost_pct: float) -> tuple[float, F64, F64, float, bool]:
    """Today's-price end state of sequence ``s``: (score, components, sub-scores, cost, ok)."""
    q = hold_qty.copy()
    ok, cash, cost = simulate(s, length, sec, side, qty, price_eur, q, cash0, reserve,
                              cost_fixed, cost_pct)
    sub = np.zeros(N_SUB)
    comps = np.zeros(5)
    if not ok:
        return 0.0, comps, sub, cost, False
    opp, reg = sequence_terms(s, length, sec, side, windfall, priority, technical, regime,
                              sub)
    align = alignment(q, rel, cash, price_eur, target_w, has_targets)
    n_cg = country_target.size
    acc = np.zeros(6 + n_cg + industry_target.size)
    for k in range(rel.size):
        i = rel[k]
        if q[i] > 0.0:
            _add_value(acc, i, q[i] * price_eur[i], ret, promise, vol, dd, sharpe, country,
                       ind_idx, ind_frac, n_cg)
    unit = np.zeros(5)
    total = 0.0
    for c in range(5):
        unit[:] = 0.0
        unit[c] = 1.0
        comps[c] = score_sums(acc[0], acc[1], acc[2], acc[3], acc[4], acc[5], acc[6:], cash,
                              country_target, industry_target, align, unit, opp, reg, sub)
        total += comp_w[c] * comps[c]
    return total, comps, sub, cost, True


def relevant_indices(ctx: EvalContext, batch: SequenceBatch) -> I64:
    """Securities held, targeted or traded by any sequence (sorted)."""
    mask = (ctx.hold_qty > 0) | (ctx.target_w > 0)
    traded = batch.sec[batch.sec >= 0]
    mask[traded] = True
    return np.flatnonzero(mask).astype(np.int64)


def evaluate(ctx: EvalContext, batch: SequenceBatch, mult: F64) -> F64:
    """Run :func:`evaluate_kernel` on a context, a batch and a scenario matrix (P × N).

    Calls are serialised: Numba's default (workqueue) threading layer must not run two
    parallel regions at once, e.g. a plan and the start-up warm-up in different threads.
    """
    rel = relevant_indices(ctx, batch)
    if mult.shape[0] == 0:
        raise ValueError("at least one scenario row is needed")
    with _PARALLEL_LOCK:
        return evaluate_kernel(
            batch.length, batch.sec, batch.side, batch.qty, batch.windfall, batch.priority,
            batch.technical, mult, rel, ctx.price_eur, ctx.hold_qty, ctx.ret, ctx.promise,
            ctx.vol, ctx.dd, ctx.sharpe, ctx.country, ctx.ind_idx, ctx.ind_frac,
            ctx.target_w, ctx.has_targets, ctx.country_target, ctx.industry_target,
            ctx.comp_w, ctx.regime, ctx.cash_eur, ctx.reserve_eur, ctx.cost_fixed,
            ctx.cost_pct, ctx.cost_penalty_factor)


@dataclass(frozen=True)
class Explanation:
    """Today's-price end-state score of one sequence with its components and sub-scores."""

    score: float
    components: dict[str, float]
    subscores: dict[str, float]
    cost_eur: float
    feasible: bool


def explain(ctx: EvalContext, batch: SequenceBatch, s: int) -> Explanation:
    """Break down the (unshocked) end-state score of sequence ``s``."""
    rel = relevant_indices(ctx, batch)
    score, comps, sub, cost, ok = explain_kernel(
        s, batch.length, batch.sec, batch.side, batch.qty, batch.windfall, batch.priority,
        batch.technical, rel, ctx.price_eur, ctx.hold_qty, ctx.ret, ctx.promise, ctx.vol,
        ctx.dd, ctx.sharpe, ctx.country, ctx.ind_idx, ctx.ind_frac, ctx.target_w,
        ctx.has_targets, ctx.country_target, ctx.industry_target, ctx.comp_w, ctx.regime,
        ctx.cash_eur, ctx.reserve_eur, ctx.cost_fixed, ctx.cost_pct)
    return Explanation(float(score), {n: float(comps[i]) for i, n in enumerate(COMPONENTS)},
                       {n: float(sub[i]) for i, n in enumerate(SUBSCORES)}, float(cost),
                       bool(ok))
