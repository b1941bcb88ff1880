"""The evaluation kernel against the plain NumPy reference (tests/reference_evaluation.py)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from arduino_trader.domain.planner.evaluation import (
    BASE_COMPONENT_WEIGHTS,
    R_FEASIBLE,
    R_SCORE,
    EvalContext,
    SequenceBatch,
    evaluate,
    explain,
)
from tests.reference_evaluation import reference_evaluate


def random_case(seed: int, n: int = 12, n_seq: int = 30, depth: int = 5, paths: int = 17,
                with_targets: bool = True, regime: int = 0, cash: float = 5000.0,
                group_targets: bool = True) -> tuple[EvalContext, SequenceBatch, np.ndarray]:
    """A random but well-formed context, batch of sequences and scenario matrix."""
    rng = np.random.default_rng(seed)
    n_c, n_i = 3, 4
    held = rng.random(n) < 0.5
    hold = np.where(held, rng.integers(1, 50, n), 0).astype(np.float64)
    ind_idx = np.full((n, 2), -1, dtype=np.int64)
    ind_frac = np.zeros((n, 2))
    for i in range(n):
        ind_idx[i, 0] = rng.integers(0, n_i)
        if rng.random() < 0.3:
            ind_idx[i, 1] = (ind_idx[i, 0] + 1) % n_i
            ind_frac[i] = (0.5, 0.5)
        else:
            ind_frac[i, 0] = 1.0
    target = rng.random(n) * (rng.random(n) < 0.6)
    if target.sum() > 0:
        target = target / target.sum() * 0.95
    country = rng.integers(-1, n_c, n).astype(np.int64)
    ctx = EvalContext(
        price_eur=rng.uniform(5, 300, n), hold_qty=hold, ret=rng.uniform(-0.1, 0.3, n),
        promise=rng.uniform(0, 1, n), vol=rng.uniform(0.05, 0.7, n),
        dd=rng.uniform(0, 0.7, n), sharpe=rng.uniform(-1, 2.5, n), country=country,
        ind_idx=ind_idx, ind_frac=ind_frac, target_w=target, has_targets=with_targets,
        country_target=np.array([0.5, 0.3, 0.2]) if group_targets else np.zeros(n_c),
        industry_target=rng.dirichlet(np.ones(n_i)) if group_targets else np.zeros(n_i),
        comp_w=BASE_COMPONENT_WEIGHTS.copy(), regime=regime, cash_eur=cash, reserve_eur=200.0,
        cost_fixed=2.0, cost_pct=0.002, cost_penalty_factor=10.0)
    length = rng.integers(0, depth + 1, n_seq).astype(np.int64)
    sec = np.full((n_seq, depth), -1, dtype=np.int64)
    side = np.zeros((n_seq, depth), dtype=np.int64)
    qty = np.zeros((n_seq, depth))
    for s in range(n_seq):
        for a in range(length[s]):
            i = int(rng.integers(0, n))
            sec[s, a] = i
            if hold[i] > 0 and rng.random() < 0.5:
                side[s, a] = -1
                qty[s, a] = float(rng.integers(1, int(hold[i]) + 2))  # sometimes too many
            else:
                side[s, a] = 1
                qty[s, a] = float(rng.integers(1, 20))
    batch = SequenceBatch(length, sec, side, qty, rng.uniform(0, 1, (n_seq, depth)),
                          rng.uniform(-0.2, 1.3, (n_seq, depth)),
                          rng.uniform(0, 1, (n_seq, depth)))
    mult = np.exp(rng.normal(0, 0.15, (paths, n)))
    return ctx, batch, mult


@pytest.mark.slow  # compiles the kernel on a cold Numba cache
@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), regime=st.sampled_from([-1, 0, 1]),
       targets=st.booleans(), cash=st.floats(0.0, 20000.0), paths=st.integers(1, 40),
       group_targets=st.booleans())
def test_kernel_matches_reference(seed: int, regime: int, targets: bool, cash: float,
                                  paths: int, group_targets: bool) -> None:
    ctx, batch, mult = random_case(seed, regime=regime, with_targets=targets, cash=cash,
                                   paths=paths, group_targets=group_targets)
    fast = evaluate(ctx, batch, mult)
    slow = reference_evaluate(ctx, batch, mult)
    np.testing.assert_allclose(fast, slow, rtol=0, atol=1e-9)


def test_reference_sees_infeasible_and_feasible_sequences() -> None:
    """The random cases exercise both branches, so the comparison above can fail."""
    ctx, batch, mult = random_case(7, n_seq=200)
    out = evaluate(ctx, batch, mult)
    assert 0 < out[:, R_FEASIBLE].sum() < batch.count
    assert np.all((out[:, R_SCORE] >= 0) & (out[:, R_SCORE] <= 1))


def test_a_different_scenario_changes_scores() -> None:
    ctx, batch, mult = random_case(3)
    a = evaluate(ctx, batch, mult)
    b = evaluate(ctx, batch, mult * 0.7)
    assert not np.allclose(a[:, R_SCORE], b[:, R_SCORE])


def test_cash_only_and_empty_sequence() -> None:
    ctx, batch, mult = random_case(11, n_seq=5)
    cash_only = EvalContext(**{**ctx.__dict__, "hold_qty": np.zeros_like(ctx.hold_qty)})
    empty = SequenceBatch(np.zeros(1, dtype=np.int64), batch.sec[:1], batch.side[:1],
                          batch.qty[:1], batch.windfall[:1], batch.priority[:1],
                          batch.technical[:1])
    out = evaluate(cash_only, empty, mult)
    ref = reference_evaluate(cash_only, empty, mult)
    np.testing.assert_allclose(out, ref, atol=1e-9)
    assert out[0, R_FEASIBLE] == 1.0


def test_explain_components_recombine_to_the_score() -> None:
    ctx, batch, _ = random_case(5)
    ones = np.ones((1, ctx.price_eur.size))
    out = evaluate(ctx, batch, ones)
    for s in range(batch.count):
        e = explain(ctx, batch, s)
        assert e.feasible == bool(out[s, R_FEASIBLE])
        if e.feasible:
            assert abs(sum(BASE_COMPONENT_WEIGHTS[i] * v
                           for i, v in enumerate(e.components.values())) - e.score) < 1e-12
            penalty = e.cost_eur / (ctx.cash_eur + float(ctx.hold_qty @ ctx.price_eur)) * 10
            assert abs(max(0.0, min(1.0, e.score - penalty)) - out[s, R_SCORE]) < 1e-9
