"""Optimiser: the min-volatility fallback is solved on OSQP directly — PyPortfolioOpt's
portfolio, without loading PyPortfolioOpt or cvxpy — and their chain still follows when the
direct solve fails."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from arduino_trader.domain import optimizer
from arduino_trader.domain.optimizer import OptimizerAsset, optimize
from arduino_trader.domain.optimizer_qp import min_volatility_qp


def _prices(n: int, t: int = 400, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    common = rng.normal(0, 0.01, t)
    r = common[None, :] * rng.uniform(0.2, 1.5, (n, 1)) + rng.normal(0.0004, 0.012, (n, t))
    return 50 * np.exp(np.cumsum(r, axis=1))


def _assets(n: int) -> list[OptimizerAsset]:
    groups = ["EU", "US", "ASIA"]
    return [OptimizerAsset(f"S{i}", 0.05 + 0.01 * i, 0.02, 0.5 + 0.02 * i, 0.0,
                           groups[i % 3], ["Tech", "Energy"][i % 2]) for i in range(n)]


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(3, 12), groups=st.booleans(),
       lower_scale=st.sampled_from([1.0, 0.5]))
def test_min_volatility_qp_is_pypfopts_solve_bit_for_bit(seed: int, n: int, groups: bool,
                                                         lower_scale: float) -> None:
    """The direct solve hands OSQP cvxpy's very problem: PyPortfolioOpt's
    ``min_volatility`` weights (after its ``clean_weights``) exactly, or a failure when
    the library fails."""
    from pypfopt import EfficientFrontier

    rng = np.random.default_rng(seed)
    names = [f"S{i}" for i in range(n)]
    mu = pd.Series(rng.uniform(0.0, 0.25, n), index=names)
    returns = pd.DataFrame(rng.normal(0.0004, 0.012, (300, n)) @ rng.uniform(0.3, 1, (n, n)),
                           columns=names)
    cov = returns.cov() * 252
    bounds = [(float(lo), float(hi))
              for lo, hi in zip(rng.uniform(0.0, 0.05, n), rng.uniform(0.2, 0.6, n), strict=True)]
    mapper = {s: ["EU", "US", "ASIA"][i % 3] for i, s in enumerate(names)}
    group_b = {"EU": (0.35, 0.45), "US": (0.1, 0.5), "ASIA": (0.1, 0.5)} if groups else {}
    ours = min_volatility_qp(names, cov.to_numpy(), bounds, [(mapper, group_b)], lower_scale)
    ef = EfficientFrontier(mu, cov, weight_bounds=bounds)
    if group_b:
        ef.add_sector_constraints(mapper, {g: b[0] * lower_scale for g, b in group_b.items()},
                                  {g: b[1] for g, b in group_b.items()})
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ef.min_volatility()
    except Exception:  # infeasible bounds or groups: ours fails too
        assert ours is None
        return
    assert ours == dict(ef.clean_weights(cutoff=1e-6, rounding=None))


def test_unreachable_target_gives_pypfopts_min_volatility_weights(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """optimize() with a target return beyond reach: the direct min-volatility solve gives
    exactly the target weights of PyPortfolioOpt's chain (forced by failing the direct
    QPs)."""
    assets, prices = _assets(9), _prices(9, seed=3)
    direct = optimize(assets, prices, target_return=5.0)
    monkeypatch.setattr(optimizer, "_efficient_return_qp", lambda *a, **k: None)
    monkeypatch.setattr(optimizer, "_min_volatility_qp", lambda *a, **k: None)
    library = optimize(assets, prices, target_return=5.0)
    assert direct.fallback_used == library.fallback_used == "min_volatility"
    assert direct.target_weights == library.target_weights


def test_min_volatility_fallback_loads_neither_pypfopt_nor_cvxpy() -> None:
    """In a fresh interpreter, a plan-time optimisation that falls back to min-volatility
    leaves PyPortfolioOpt and cvxpy unimported (they would stay resident for good)."""
    code = textwrap.dedent("""
        import json, sys
        import numpy as np
        from arduino_trader.domain.optimizer import OptimizerAsset, optimize
        rng = np.random.default_rng(1)
        prices = 50 * np.exp(np.cumsum(rng.normal(0.0004, 0.012, (6, 300)), axis=1))
        assets = [OptimizerAsset(f"S{i}", 0.05, 0.02, 0.5, 0.0) for i in range(6)]
        r = optimize(assets, prices, target_return=5.0)
        print(json.dumps({"fallback": r.fallback_used, "success": r.success,
                          "loaded": sorted(m for m in ("pypfopt", "cvxpy")
                                           if m in sys.modules)}))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=120).stdout
    assert json.loads(out.strip().splitlines()[-1]) == {
        "fallback": "min_volatility", "success": True, "loaded": []}
