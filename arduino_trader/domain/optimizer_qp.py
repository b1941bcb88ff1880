"""The optimiser's mean-variance QPs posed straight to OSQP.

PyPortfolioOpt's ``efficient_return`` (min wᵀΣw, Σw = 1, μᵀw ≥ target, security bounds,
group sums) and ``min_volatility`` (the same without the return floor) are convex QPs
that cvxpy hands to OSQP with the tolerances used here (``min_volatility`` also with
cvxpy's very matrices, so its weights are the library's to the last bit). cvxpy
re-compiles the problem on every call (~80 % of a solve) and, with PyPortfolioOpt, costs
~1 s and ~55 MB resident to import; these are built in microseconds, same solver.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

F64 = npt.NDArray[np.float64]
OSQP_SOLVED = (1, 2)  # OSQP's "solved" and "solved inaccurate" (cvxpy: optimal[_inaccurate])


def efficient_return_qp(symbols: list[str], mu: F64, sigma: F64,
                        bounds: list[tuple[float, float]],
                        groups: list[tuple[dict[str, str], dict[str, tuple[float, float]]]],
                        lower_scale: float, target_return: float) -> dict[str, float] | None:
    """PyPortfolioOpt's ``efficient_return``: minimum-variance weights with Σw = 1, the
    security ``bounds``, the group sums (lower bounds × ``lower_scale``) and μᵀw ≥
    ``target_return``, with the tolerances cvxpy sets; ``mu`` and the covariance
    ``sigma`` are in the order of ``symbols``. None when the target is beyond reach or the
    solver does not report a solution; raises on a malformed problem (the caller moves
    down its chain either way)."""
    import osqp
    import scipy.sparse as sp

    # An unreachable target fails at once: PyPortfolioOpt solves a max-return LP to find
    # out; the greedy bound is never lower, and a target between the two is infeasible.
    if target_return > max_return_bound(mu, bounds):
        return None
    n = len(symbols)
    rows = [np.ones(n), np.asarray(mu, dtype=np.float64)]
    lower = [1.0, target_return]
    upper = [1.0, np.inf]
    for mapper, group_bounds in groups:
        for group, (lo, hi) in group_bounds.items():
            rows.append(np.array([1.0 if mapper[s] == group else 0.0 for s in symbols]))
            lower.append(lo * lower_scale)
            upper.append(hi)
    # Sparse matrices from dense ones in one conversion each (the same nonzeros, in the
    # same order, as stacking sparse blocks; a third of the cost).
    a = sp.csc_matrix(np.vstack([*rows, np.eye(n)]))
    lo_b = np.array(lower + [b[0] for b in bounds])
    hi_b = np.array(upper + [b[1] for b in bounds])
    # The builtin algebra by name: without it every OSQP() tries to import the CUDA and
    # MKL backends first, and a failed import is not cached (55 µs vs 1 µs here).
    solver = osqp.OSQP(algebra="builtin")
    solver.setup(sp.csc_matrix(np.triu(2.0 * sigma)), np.zeros(n), a, lo_b,
                 hi_b, verbose=False, eps_abs=1e-5, eps_rel=1e-5, max_iter=10000,
                 polishing=True)
    result = solver.solve(raise_error=False)
    if result.info.status_val not in OSQP_SOLVED or result.x is None:
        return None
    w = np.asarray(result.x, dtype=np.float64).round(16) + 0.0
    if not np.all(np.isfinite(w)):
        return None
    w[np.abs(w) < 1e-6] = 0.0  # PyPortfolioOpt's clean_weights(cutoff=1e-6)
    return {s: float(v) for s, v in zip(symbols, w, strict=True)}


def min_volatility_qp(symbols: list[str], sigma: F64, bounds: list[tuple[float, float]],
                      groups: list[tuple[dict[str, str], dict[str, tuple[float, float]]]],
                      lower_scale: float) -> dict[str, float] | None:
    """PyPortfolioOpt's ``min_volatility`` (min wᵀΣw, Σw = 1, the security ``bounds``, the
    group sums with lower bounds × ``lower_scale``) handed to OSQP exactly as cvxpy hands
    it over: the same matrices, rows in the same order (the equality, then w ≥ lo, w ≤ hi,
    each group's upper then lower sums as the library adds them) and the same settings,
    so the same iterations give the same weights. None when the solver does not report a
    solution; raises on a malformed problem. ``sigma`` is in the order of ``symbols``."""
    import osqp
    import scipy.sparse as sp

    n = len(symbols)
    eye = np.eye(n)
    rows: list[np.ndarray] = [np.ones((1, n)), -eye, eye]
    ceilings = [np.array([1.0]), -np.array([b[0] for b in bounds]),
                np.array([b[1] for b in bounds])]
    for mapper, group_bounds in groups:
        member = {g: np.array([[1.0 if mapper[s] == g else 0.0 for s in symbols]])
                  for g in group_bounds}
        for g, (_, hi) in group_bounds.items():
            rows.append(member[g])
            ceilings.append(np.array([hi]))
        for g, (lo, _) in group_bounds.items():
            rows.append(-member[g])
            ceilings.append(np.array([-(lo * lower_scale)]))
    a = sp.csc_matrix(np.vstack(rows))
    upper = np.concatenate(ceilings)
    lower = np.concatenate([[1.0], np.full(len(upper) - 1, -np.inf)])
    solver = osqp.OSQP(algebra="builtin")
    solver.setup(sp.csc_matrix(2.0 * sigma), np.zeros(n), a, lower, upper, verbose=False,
                 eps_abs=1e-5, eps_rel=1e-5, max_iter=10000, polishing=True)
    result = solver.solve(raise_error=False)
    if result.info.status_val not in OSQP_SOLVED or result.x is None:
        return None
    w = np.asarray(result.x, dtype=np.float64).round(16) + 0.0
    if not np.all(np.isfinite(w)):
        return None
    w[np.abs(w) < 1e-6] = 0.0  # PyPortfolioOpt's clean_weights(cutoff=1e-6)
    return {s: float(v) for s, v in zip(symbols, w, strict=True)}


def max_return_bound(mu: F64, bounds: list[tuple[float, float]]) -> float:
    """Largest Σw·μ with Σw = 1 and per-security bounds (group constraints ignored, so an
    upper bound of the constrained maximum): lower bounds first, then the best returns
    filled to their upper bounds."""
    r = np.asarray(mu, dtype=np.float64)
    lo = np.array([b[0] for b in bounds])
    hi = np.array([b[1] for b in bounds])
    w = lo.copy()
    left = 1.0 - float(lo.sum())
    for i in np.argsort(-r, kind="stable"):
        if left <= 0:
            break
        add = min(left, hi[i] - lo[i])
        w[i] += add
        left -= add
    return float(w @ r) + 1e-12
