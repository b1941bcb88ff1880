"""Plain NumPy/Python reference of the evaluation (simulation,
unified end-state score, Monte-Carlo robust score).

Written for clarity, not speed: one sequence at a time, all scenarios of that sequence as
NumPy arrays over the whole universe. The Numba kernel in
``arduino_trader/domain/planner/evaluation.py`` must agree with it within 1e-9.
"""

from __future__ import annotations

import numpy as np

from arduino_trader.domain.planner.evaluation import EvalContext, SequenceBatch


def _piecewise_volatility(v: np.ndarray) -> np.ndarray:
    return np.select(
        [v <= 0.15, v <= 0.25, v <= 0.40],
        [np.ones_like(v), 0.8 + 2 * (0.25 - v), 0.5 + 2 * (0.40 - v)],
        np.maximum(0.2, 0.5 - (v - 0.4)))


def _piecewise_drawdown(a: np.ndarray) -> np.ndarray:
    return np.select(
        [a <= 0.1, a <= 0.2, a <= 0.3, a <= 0.5],
        [np.ones_like(a), 0.8 + 2 * (0.2 - a), 0.6 + 2 * (0.3 - a), 0.2 + 2 * (0.5 - a)],
        np.maximum(0.0, 0.2 - (a - 0.5)))


def _piecewise_sharpe(x: np.ndarray) -> np.ndarray:
    return np.select(
        [x >= 2, x >= 1, x >= 0.5, x >= 0],
        [np.ones_like(x), 0.7 + 0.3 * (x - 1), 0.4 + 0.6 * (x - 0.5), 0.8 * x],
        np.zeros_like(x))


def _piecewise_total_return(x: np.ndarray) -> np.ndarray:
    return np.select(
        [x >= 0.20, x >= 0.11, x >= 0.05, x >= 0],
        [np.full_like(x, 0.95), 1 - 0.15 * (x - 0.11) / 0.09, 0.5 + (x - 0.05) / 0.12, 10 * x],
        np.full_like(x, 0.1))


EPS_EUR = 1e-6  # EUR amounts below this count as zero


def _group_deviation_score(group_values: np.ndarray, invested: np.ndarray,
                           targets: np.ndarray) -> np.ndarray:
    """max(0, 1 − mean|current − target|/0.3) over groups that are targeted or held;
    0.5 (neutral) for every state when no group has a target."""
    if not (targets > 0).any():
        return np.full(invested.shape, 0.5)
    safe = np.where(invested > 0, invested, 1.0)[:, None]
    current = np.where((invested[:, None] > 0) & (group_values > EPS_EUR), group_values / safe,
                       0.0)
    counted = (targets[None, :] > 0) | (current > 0)
    n = counted.sum(axis=1)
    dev = np.where(counted, np.abs(current - targets[None, :]), 0.0).sum(axis=1)
    return np.where(n > 0, np.maximum(0.0, 1 - dev / np.maximum(n, 1) / 0.3), 0.5)


def simulate(ctx: EvalContext, actions: list[tuple[int, int, float]]
             ) -> tuple[bool, np.ndarray, float, float]:
    """Walk the actions in order: (feasible, end quantities, end cash, total cost)."""
    q = ctx.hold_qty.copy()
    cash = ctx.cash_eur
    cost = 0.0
    for i, side, n in actions:
        value = n * ctx.price_eur[i]
        c = ctx.cost_fixed + ctx.cost_pct * value
        cost += c
        if side < 0:
            if n <= 0 or n > q[i] + 1e-9:
                return False, q, cash, cost
            q[i] = max(0.0, q[i] - n)
            cash += value - c
        else:
            if n <= 0 or cash - value - c < ctx.reserve_eur - 1e-9:
                return False, q, cash, cost
            q[i] += n
            cash -= value + c
    return True, q, cash, cost


def sequence_terms(ctx: EvalContext, batch: SequenceBatch, s: int) -> tuple[float, float]:
    """(opportunity capture, regime & robustness) of sequence ``s``."""
    n = int(batch.length[s])
    if n == 0:
        opportunity, buy_share, sell_share, robust = 0.5, 0.0, 0.0, 1.0
    else:
        windfall = float(np.mean(batch.windfall[s, :n]))
        priority = float(np.mean(np.clip(batch.priority[s, :n], 0, 1)))
        technical = float(np.mean(batch.technical[s, :n]))
        opportunity = 0.40 * windfall + 0.35 * priority + 0.25 * technical
        buys = {int(batch.sec[s, a]) for a in range(n) if batch.side[s, a] > 0}
        sells = {int(batch.sec[s, a]) for a in range(n) if batch.side[s, a] < 0}
        buy_share = sum(1 for a in range(n) if batch.side[s, a] > 0) / n
        sell_share = 1 - buy_share
        robust = 1 - len(buys & sells) / len(buys | sells)
    if ctx.regime > 0:
        alignment = 0.5 + 0.5 * buy_share
    elif ctx.regime < 0:
        alignment = 0.5 + 0.5 * sell_share
    else:
        alignment = 0.7
    return opportunity, 0.6 * alignment + 0.4 * robust


def state_scores(ctx: EvalContext, q: np.ndarray, cash: float, mult: np.ndarray,
                 opportunity: float, regime_term: float) -> np.ndarray:
    """End-state score of holdings ``q`` under every scenario row of ``mult`` (P,)."""
    values = q[None, :] * ctx.price_eur[None, :] * mult  # P × N
    invested = values.sum(axis=1)
    invested = np.where(invested < EPS_EUR, 0.0, invested)
    total = invested + cash
    total = np.where(total > 0, total, 1e-12)
    weights = values / total[:, None]
    # Cash earns 0 and is neutral (0.5) by its share in promise, volatility, drawdown and
    # Sharpe; the risk figures themselves are averages over the invested part.
    safe_invested = np.where(invested > 0, invested, 1.0)
    share = np.clip(invested / total, 0.0, 1.0)

    def cash_neutral(sub: np.ndarray) -> np.ndarray:
        return np.where(invested > 0, share * sub + (1 - share) * 0.5, 0.5)

    total_return = _piecewise_total_return(weights @ ctx.ret)
    promise = weights @ ctx.promise + 0.5 * cash / total
    vol_score = cash_neutral(_piecewise_volatility((values @ ctx.vol) / safe_invested))
    dd_score = cash_neutral(_piecewise_drawdown((values @ ctx.dd) / safe_invested))
    stability = 0.6 * vol_score + 0.4 * dd_score
    quality = 0.40 * total_return + 0.35 * promise + 0.25 * stability
    # Diversification and alignment with the optimiser.
    n_c = ctx.country_target.size
    country_values = np.zeros((mult.shape[0], n_c))
    for i in range(q.size):
        if ctx.country[i] >= 0:
            country_values[:, ctx.country[i]] += values[:, i]
    n_i = ctx.industry_target.size
    industry_values = np.zeros((mult.shape[0], n_i))
    for i in range(q.size):
        for j in range(ctx.ind_idx.shape[1]):
            if ctx.ind_idx[i, j] >= 0:
                industry_values[:, ctx.ind_idx[i, j]] += values[:, i] * ctx.ind_frac[i, j]
    geography = _group_deviation_score(country_values, invested, ctx.country_target)
    industry = _group_deviation_score(industry_values, invested, ctx.industry_target)
    # Alignment with the optimiser targets is measured at today's prices (the trades' intent).
    if ctx.has_targets:
        today = q * ctx.price_eur
        total_today = today.sum() + cash
        w_today = today / (total_today if total_today > 0 else 1e-12)
        counted = (w_today > 0) | (ctx.target_w > 0)
        # The cash line counts too: its target is the share the security targets leave.
        cash_target = max(0.0, 1.0 - float(ctx.target_w.sum()))
        n = int(counted.sum()) + 1
        dev = float(np.abs(w_today - ctx.target_w)[counted].sum()) \
            + abs(cash / (total_today if total_today > 0 else 1e-12) - cash_target)
        alignment = max(0.0, 1 - dev / n / 0.2)
    else:
        alignment = 0.5
    diversification = 0.35 * geography + 0.30 * industry + 0.35 * alignment
    # Risk-adjusted.
    sharpe = cash_neutral(_piecewise_sharpe((values @ ctx.sharpe) / safe_invested))
    risk = 0.40 * sharpe + 0.35 * vol_score + 0.25 * dd_score
    w = ctx.comp_w
    return (w[0] * opportunity + w[1] * quality + w[2] * diversification + w[3] * risk
            + w[4] * regime_term)


def reference_evaluate(ctx: EvalContext, batch: SequenceBatch, mult: np.ndarray) -> np.ndarray:
    """Same contract as ``evaluation.evaluate``: rows [score, worst, p10, mean, cost, ok]."""
    out = np.zeros((batch.count, 6))
    total0 = ctx.cash_eur + float(np.sum(ctx.hold_qty * ctx.price_eur))
    total0 = total0 if total0 > 0 else 1e-12
    for s in range(batch.count):
        actions = [(int(batch.sec[s, a]), int(batch.side[s, a]), float(batch.qty[s, a]))
                   for a in range(int(batch.length[s]))]
        ok, q, cash, cost = simulate(ctx, actions)
        out[s, 4] = cost
        if not ok:
            continue
        opportunity, regime_term = sequence_terms(ctx, batch, s)
        scores = state_scores(ctx, q, cash, mult, opportunity, regime_term)
        worst = float(np.min(scores))
        p10 = float(np.quantile(scores, 0.10))
        mean = float(np.mean(scores))
        robust = 0.4 * worst + 0.3 * p10 + 0.3 * mean
        out[s, 0] = min(1.0, max(0.0, robust - cost / total0 * ctx.cost_penalty_factor))
        out[s, 1:4] = (worst, p10, mean)
        out[s, 5] = 1.0
    return out
