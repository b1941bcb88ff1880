"""Optimiser: HRP equals PyPortfolioOpt's, bounds and groups hold, failures degrade."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from pypfopt import HRPOpt

from arduino_trader.domain.optimizer import (
    OptimizerAsset,
    cap_at_current,
    expected_returns,
    optimize,
)
from arduino_trader.domain.optimizer_risk import hrp_weights, single_linkage_order


def _prices(n: int, t: int = 400, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    common = rng.normal(0, 0.01, t)
    r = common[None, :] * rng.uniform(0.2, 1.5, (n, 1)) + rng.normal(0.0004, 0.012, (n, t))
    return 50 * np.exp(np.cumsum(r, axis=1))


def _assets(n: int, held: int = 0) -> list[OptimizerAsset]:
    groups = ["EU", "US", "ASIA"]
    return [OptimizerAsset(f"S{i}", 0.05 + 0.01 * i, 0.02, 0.5 + 0.02 * i,
                           0.9 / held if i < held else 0.0, groups[i % 3],
                           ["Tech", "Energy"][i % 2]) for i in range(n)]


def test_hrp_matches_pypfopt() -> None:
    prices = _prices(9)
    frame = pd.DataFrame(prices.T, columns=[f"S{i}" for i in range(9)])
    returns = frame.pct_change().iloc[1:]
    ours = hrp_weights(returns.to_numpy())
    theirs = HRPOpt(returns=returns).optimize()
    np.testing.assert_allclose(ours, [theirs[c] for c in returns.columns], atol=1e-12)


def _scipy_order(dist: np.ndarray) -> list[int]:
    import scipy.cluster.hierarchy as sch
    import scipy.spatial.distance as ssd

    link = sch.linkage(ssd.squareform(dist, checks=False), "single")
    return list(sch.to_tree(link, rd=False).pre_order())


@settings(max_examples=200, deadline=None)
@given(seed=st.integers(0, 100_000), n=st.integers(2, 40), ties=st.booleans(),
       asymmetric=st.booleans())
def test_single_linkage_order_is_scipys(seed: int, n: int, ties: bool,
                                        asymmetric: bool) -> None:
    """The leaf order HRP splits is SciPy's, to the index: random correlation distances,
    with many equal distances (rounded, duplicated securities) and with a lower triangle
    that differs in the last bits (SciPy reads the upper one)."""
    rng = np.random.default_rng(seed)
    returns = rng.normal(0, 0.01, (120, n)) @ rng.uniform(0.2, 1.0, (n, n))
    if ties and n > 3:
        returns[:, 1] = returns[:, 0]
        returns[:, 3] = returns[:, 2] * 2.0
    corr = np.corrcoef(returns, rowvar=False)
    dist = np.sqrt(np.clip((1.0 - corr) / 2.0, 0.0, 1.0))
    if ties:
        dist = np.round(dist, 1)
    if asymmetric:
        dist = dist + np.tril(rng.uniform(0, 1e-12, (n, n)), -1)
    assert single_linkage_order(dist) == _scipy_order(dist)


def test_single_linkage_refuses_what_scipy_refuses() -> None:
    dist = np.array([[0.0, np.nan, 0.2], [np.nan, 0.0, 0.3], [0.2, 0.3, 0.0]])
    with pytest.raises(ValueError, match="finite"):
        _scipy_order(dist)
    with pytest.raises(ValueError, match="finite"):
        single_linkage_order(dist)


def test_weights_respect_bounds_reserve_and_groups() -> None:
    n = 15
    r = optimize(_assets(n), _prices(n), country_targets={"EU": 0.5, "US": 0.3, "ASIA": 0.2},
                 reserve_share=0.05)
    assert r.success, r.error
    w = r.target_weights
    assert sum(w.values()) == pytest.approx(0.95, abs=1e-6)
    assert all(0 <= v <= 0.20 + 1e-9 for v in w.values())
    assert r.fallback_used is None
    assert r.achieved_expected_return > 0


def test_allow_flags_lock_weights() -> None:
    n = 9
    assets = _assets(n, held=3)
    assets[0] = OptimizerAsset("S0", 0.05, 0.0, 0.2, 0.30, "EU", allow_sell=False)
    assets[1] = OptimizerAsset("S1", 0.25, 0.0, 0.9, 0.0, "US", allow_buy=False)
    r = optimize(assets, _prices(n), blend=0.5)
    assert r.target_weights.get("S0", 0) >= 0.30 - 1e-6
    assert r.target_weights.get("S1", 0) == pytest.approx(0.0, abs=1e-9)


def test_infeasible_bounds_degrade_without_raising() -> None:
    n = 6
    assets = [OptimizerAsset(f"S{i}", 0.1, 0.0, 0.5, 0.0, min_target=0.5, max_target=0.6)
              for i in range(n)]
    r = optimize(assets, _prices(n))
    assert r.target_weights  # a target, never an exception
    assert sum(r.target_weights.values()) <= 1.0 + 1e-6


def test_no_data_and_garbage_degrade() -> None:
    r = optimize(_assets(4), np.full((4, 100), np.nan))
    assert not r.success and r.error
    r2 = optimize(_assets(4, held=2), np.zeros((3, 5)))  # wrong shape
    assert not r2.success
    assert set(r2.target_weights) == {"S0", "S1"}  # current weights kept


def test_single_security_and_pure_hrp() -> None:
    r = optimize(_assets(1), _prices(1), reserve_share=0.1)
    assert r.target_weights == {"S0": pytest.approx(0.2)}  # capped at the concentration limit
    r2 = optimize(_assets(6), _prices(6), blend=1.0)
    assert r2.blend_used == 1.0 and r2.success


def test_expected_returns_blend_and_clamp() -> None:
    a = OptimizerAsset("A", 0.10, 0.02, 0.5, 0.0)
    mu = expected_returns([a], target_return=0.11)
    assert mu["A"] == pytest.approx(0.7 * 0.12 + 0.3 * 0.11)
    hot = OptimizerAsset("B", 2.0, 0.0, 1.0, 0.0)
    assert expected_returns([hot])["B"] == 0.30
    assert expected_returns([OptimizerAsset("C", None, None, 0.5, 0.0)]) == {}


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), held=st.integers(0, 6), n_capped=st.integers(1, 4),
       reserve=st.floats(0.0, 0.1))
def test_cap_at_current_spreads_the_refused_weight(seed: int, held: int, n_capped: int,
                                                   reserve: float) -> None:
    """Refused buys are held at (at most) their current weight; the rest rise pro rata
    within their bounds and the whole still sums to 1 − reserve."""
    n = 12
    r = optimize(_assets(n, held), _prices(n, seed=seed), reserve_share=reserve)
    assert r.success
    rng = np.random.default_rng(seed)
    capped = {f"S{i}" for i in rng.choice(n, n_capped, replace=False)}
    out = cap_at_current(r, _assets(n, held), capped, reserve)
    current = {a.symbol: a.current_weight for a in _assets(n, held)}
    for sym in capped:
        before, after = r.target_weights.get(sym, 0.0), out.target_weights.get(sym, 0.0)
        assert after <= max(before, current[sym]) + 1e-9  # never a buy beyond either
        if before > current[sym]:
            assert after <= current[sym] + 1e-9
    for sym, w in out.target_weights.items():
        assert 0.0 <= w <= 0.20 + 1e-9
        if sym not in capped and sym in r.target_weights:
            assert w >= r.target_weights[sym] - 1e-9  # others only rise
    if 0.20 * sum(1 for s in out.target_weights if s not in capped) >= 1 - reserve:
        assert sum(out.target_weights.values()) == pytest.approx(1 - reserve, abs=1e-6)
    assert cap_at_current(r, _assets(n, held), set(), reserve) is r


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(2, 8))
def test_max_return_bound_equals_pypfopts_lp_without_groups(seed: int, n: int) -> None:
    """The greedy bound that spares PyPortfolioOpt's max-return LP is that LP's optimum
    when there are no group constraints (with them it can only be higher)."""
    from pypfopt import EfficientFrontier

    from arduino_trader.domain.optimizer_qp import max_return_bound as _max_return_bound

    rng = np.random.default_rng(seed)
    mu = pd.Series(rng.uniform(-0.05, 0.25, n), index=[f"S{i}" for i in range(n)])
    lo = rng.uniform(0, 0.5 / n, n)
    hi = np.maximum(lo + 1e-3, rng.uniform(1.2 / n, 0.9, n))
    bounds = [(float(a), float(b)) for a, b in zip(lo, hi, strict=True)]
    cov = pd.DataFrame(np.diag(rng.uniform(0.01, 0.1, n)), index=mu.index, columns=mu.index)
    lp = EfficientFrontier(mu, cov, weight_bounds=bounds)._max_return()
    assert _max_return_bound(mu.to_numpy(), bounds) == pytest.approx(lp, abs=1e-6)
    assert _max_return_bound(mu.to_numpy(), bounds) >= lp - 1e-9


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(3, 12), groups=st.booleans(),
       target=st.floats(0.02, 0.30))
@example(seed=0, n=12, groups=False, target=0.125)  # PyPortfolioOpt stops at user_limit
def test_efficient_return_qp_solves_pypfopts_problem(seed: int, n: int, groups: bool,
                                                     target: float) -> None:
    """The OSQP efficient-return solve finds PyPortfolioOpt's portfolio: the same
    feasibility, weights within solver tolerance, a variance no higher."""
    from pypfopt import EfficientFrontier

    from arduino_trader.domain.optimizer import _efficient_return_qp

    rng = np.random.default_rng(seed)
    names = [f"S{i}" for i in range(n)]
    mu = pd.Series(rng.uniform(0.0, 0.25, n), index=names)
    returns = pd.DataFrame(rng.normal(0.0004, 0.012, (300, n)) @ rng.uniform(0.3, 1, (n, n)),
                           columns=names)
    cov = returns.cov() * 252
    bounds = [(0.0, float(b)) for b in rng.uniform(0.2, 0.6, n)]
    mapper = {s: ["EU", "US", "ASIA"][i % 3] for i, s in enumerate(names)}
    group_b = {"EU": (0.35, 0.45), "US": (0.1, 0.5), "ASIA": (0.1, 0.5)} if groups else {}
    ours = _efficient_return_qp(names, mu.to_numpy(), cov.to_numpy(), bounds,
                                [(mapper, group_b)], 1.0, target)
    ef = EfficientFrontier(mu, cov, weight_bounds=bounds, solver="OSQP",
                           solver_options={"eps_abs": 1e-10, "eps_rel": 1e-10,
                                           "max_iter": 200_000})
    if group_b:
        ef.add_sector_constraints(mapper, {g: b[0] for g, b in group_b.items()},
                                  {g: b[1] for g, b in group_b.items()})
    try:
        theirs = dict(ef.efficient_return(target))
    except Exception as exc:
        # Unreachable or infeasible: ours must fail too. PyPortfolioOpt may also give up
        # at a solver limit (its max-return LP at 1e-10 stops at "user_limit"); then ours
        # may answer, but only with a portfolio that meets every constraint.
        if ours is not None:
            assert "user_limit" in str(exc) or "max_iter" in str(exc), exc
            _assert_feasible(ours, names, mu, bounds, mapper, group_b, target)
        return
    assert ours is not None
    w = np.array([ours[s] for s in names])
    assert max(abs(ours[s] - theirs[s]) for s in names) < 1e-4
    sigma = cov.to_numpy()
    v_theirs = np.array([theirs[s] for s in names])
    assert w @ sigma @ w <= v_theirs @ sigma @ v_theirs + 1e-6
    _assert_feasible(ours, names, mu, bounds, mapper, group_b, target)


def _assert_feasible(ours: dict[str, float], names: list[str], mu: pd.Series,
                     bounds: list[tuple[float, float]], mapper: dict[str, str],
                     group_b: dict[str, tuple[float, float]], target: float) -> None:
    w = np.array([ours[s] for s in names])
    tol = 5e-5  # a few times OSQP's eps_abs (1e-5, cvxpy's setting)
    assert w.sum() == pytest.approx(1.0, abs=tol)
    assert w @ mu.to_numpy() >= target - tol
    assert all(-tol <= x <= b[1] + tol for x, b in zip(w, bounds, strict=True))
    for group, (lo, hi) in group_b.items():
        share = sum(ours[s] for s in names if mapper[s] == group)
        assert lo - tol <= share <= hi + tol


def test_a_risk_memo_computes_the_risk_model_once_and_changes_nothing() -> None:
    """A re-run over the same prices (the planner's second solve) reuses covariance, HRP
    and correlations; its result equals a run without the memo."""
    from arduino_trader.domain.optimizer_risk import RiskMemo

    n = 10
    prices = _prices(n, seed=3)
    memo: RiskMemo = {}
    first = optimize(_assets(n, 4), prices, risk_memo=memo)
    assert len(memo) == 1
    (model,) = memo.values()
    capped = [a if a.symbol != "S1" else OptimizerAsset(
        a.symbol, a.cagr, a.dividend_yield, a.score, a.current_weight, a.country_group,
        a.industry_group, allow_buy=False) for a in _assets(n, 4)]
    again = optimize(capped, prices, risk_memo=memo)
    assert len(memo) == 1 and next(iter(memo.values())) is model
    assert again == optimize(capped, prices)
    assert first == optimize(_assets(n, 4), prices)


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(2, 15), days=st.integers(62, 400),
       gaps=st.floats(0.0, 0.3))
def test_numpy_risk_model_equals_pypfopts(seed: int, n: int, days: int, gaps: float) -> None:
    """Gap filling equals pandas' where/ffill/bfill and the Ledoit-Wolf covariance equals
    PyPortfolioOpt's CovarianceShrinkage (scikit-learn) on the filled closes."""
    from pypfopt.risk_models import CovarianceShrinkage

    from arduino_trader.domain.optimizer_risk import filled_closes, ledoit_wolf

    rng = np.random.default_rng(seed)
    window = _prices(n, days, seed)
    window[rng.random(window.shape) < gaps] = np.nan
    window[rng.random(window.shape) < gaps / 3] = 0.0
    window[:, -1] = 50.0  # every series has a price
    frame = pd.DataFrame(window.T)
    expected = frame.where(frame > 0).ffill().bfill()
    filled = filled_closes(window)
    np.testing.assert_array_equal(filled.T, expected.to_numpy())
    theirs = CovarianceShrinkage(expected, frequency=252).ledoit_wolf().to_numpy()
    px = filled.T
    ours = ledoit_wolf(px[1:] / px[:-1] - 1.0) * 252
    np.testing.assert_allclose(ours, theirs, rtol=1e-10, atol=1e-14)


def test_a_failing_efficient_return_solve_moves_down_the_chain(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The OSQP solve raising is one more failed objective: min-volatility takes over."""
    from arduino_trader.domain import optimizer

    def broken(*args: object, **kwargs: object) -> None:
        raise ValueError("malformed problem")

    monkeypatch.setattr(optimizer, "_efficient_return_qp", broken)
    r = optimize(_assets(8), _prices(8, seed=5))
    assert r.success and r.fallback_used == "min_volatility"
    assert sum(r.target_weights.values()) == pytest.approx(1.0, abs=1e-6)


@pytest.mark.parametrize("indefinite", [False, True])
def test_positive_semidefinite_is_pypfopts_fix(indefinite: bool) -> None:
    """A PSD covariance comes back unchanged; an indefinite one (a negative eigenvalue)
    gets PyPortfolioOpt's spectral repair."""
    import warnings

    from pypfopt.risk_models import fix_nonpositive_semidefinite

    from arduino_trader.domain.optimizer_risk import _positive_semidefinite

    returns = np.diff(np.log(_prices(6)), axis=1).T
    names = [f"S{i}" for i in range(6)]
    base = np.cov(returns, rowvar=False) * 252
    shift = -(np.linalg.eigvalsh(base)[0] + 1e-3) if indefinite else 0.0
    cov = base + shift * np.eye(6)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = fix_nonpositive_semidefinite(
            pd.DataFrame(cov, index=names, columns=names), fix_method="spectral")
    ours = _positive_semidefinite(cov)
    assert (ours is cov) is not indefinite
    np.testing.assert_array_equal(ours, np.asarray(theirs))


def test_repairing_an_indefinite_covariance_does_not_import_cvxpy() -> None:
    """The spectral repair runs on NumPy alone (the demo's first plan on a cold start
    repaired one and peaked at 518 MB with cvxpy and its solvers loaded)."""
    import subprocess
    import sys

    code = ("import sys, numpy as np\n"
            "from arduino_trader.domain.optimizer_risk import _positive_semidefinite\n"
            "cov = np.array([[1.0, 2.0], [2.0, 1.0]])\n"
            "fixed = _positive_semidefinite(cov)\n"
            "assert np.linalg.eigvalsh(fixed)[0] > -1e-12\n"
            "print(sorted(m for m in ('pypfopt', 'cvxpy') if m in sys.modules))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=120)
    assert out.stdout.strip() == "[]"


def test_optimising_does_not_import_pypfopt_unless_needed() -> None:
    """PyPortfolioOpt imports cvxpy (about a second): only a failing direct QP needs it.
    The optimiser works on arrays, so pandas (~30 MB resident) stays unloaded too, and
    HRP's clustering runs on NumPy, so scipy.cluster and scipy.spatial (~8 MB) do."""
    import subprocess
    import sys

    code = ("import sys, numpy as np\n"
            "from arduino_trader.domain.optimizer import OptimizerAsset, optimize\n"
            "rng = np.random.default_rng(0)\n"
            "prices = 50 * np.exp(np.cumsum(rng.normal(4e-4, 0.012, (9, 400)), axis=1))\n"
            "assets = [OptimizerAsset(f'S{i}', 0.05 + 0.01 * i, 0.02, 0.5, 0.0, 'EU')\n"
            "          for i in range(9)]\n"
            "r = optimize(assets, prices, blend=0.5)\n"
            "assert r.success and r.fallback_used is None and r.blend_used == 0.5, r\n"
            "print(sorted(m for m in ('pypfopt', 'cvxpy', 'pandas', 'scipy.cluster',\n"
            "                         'scipy.spatial') if m in sys.modules))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=120)
    assert out.stdout.strip() == "[]"
