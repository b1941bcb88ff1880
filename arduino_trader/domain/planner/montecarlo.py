"""Monte-Carlo scenarios for the robust score of a sequence.

Horizon h trading days (63); per security the log-return
(μ − σ²/2)·h/252 + σ·√(h/252)·(L z), L the Cholesky factor of the correlation of recent
daily returns (shrunk towards the identity so it is always positive definite), z standard
normal from a generator with a fixed seed. The resulting multiplier matrix (paths × N) is
shared by every sequence: common random numbers, so differences between sequences are not
noise. Securities outside ``subset`` keep multiplier 1 (they are in no end state).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]


def correlation(returns: F64, window: int = 252, shrink: float = 0.1) -> F64:
    """Correlation of the last ``window`` daily returns (rows = securities; NaN as 0)."""
    r = np.nan_to_num(returns[:, -window:], nan=0.0)
    n = r.shape[0]
    if n == 0:
        return np.zeros((0, 0))
    r = r - r.mean(axis=1, keepdims=True)
    sd = np.sqrt((r * r).sum(axis=1))
    sd[sd == 0] = 1.0
    z = r / sd[:, None]
    c = z @ z.T
    np.fill_diagonal(c, 1.0)
    c = np.clip(c, -1.0, 1.0)
    return (1 - shrink) * c + shrink * np.eye(n)


def scenario_multipliers(n_total: int, subset: I64, mu: F64, sigma: F64, returns: F64,
                         paths: int, horizon_days: int, seed: int,
                         raw_corr: F64 | None = None, shrink: float = 0.1) -> F64:
    """(paths × n_total) price multipliers at the horizon; ``mu``/``sigma`` annual (N).
    ``raw_corr``: the unshrunk correlation of ``subset`` when the caller already has it
    (the planner computes it once for the correlation filter and the scenarios)."""
    paths = max(1, paths)
    out = np.ones((paths, n_total))
    k = subset.size
    if k == 0:
        return out
    if raw_corr is not None and raw_corr.shape == (k, k):
        corr = (1 - shrink) * raw_corr + shrink * np.eye(k)
    else:
        corr = correlation(returns[subset], shrink=shrink)
    try:
        chol = np.linalg.cholesky(corr)
    except np.linalg.LinAlgError:
        chol = np.eye(k)
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((paths, k)) @ chol.T
    t = horizon_days / 252.0
    m = np.clip(np.nan_to_num(mu[subset], nan=0.05), -0.5, 0.5)
    s = np.clip(np.nan_to_num(sigma[subset], nan=0.2), 0.10, 1.0)
    out[:, subset] = np.exp((m - 0.5 * s * s) * t + s * np.sqrt(t) * z)
    return out
