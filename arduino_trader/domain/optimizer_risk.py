"""The optimiser's risk model: what it derives from the price window alone.

Ledoit-Wolf covariance (with its spectral repair when not positive semidefinite), HRP
weights and the most correlated pairs, in NumPy with PyPortfolioOpt's formulas (each
tested against the library). :data:`RiskMemo` lets calls over the same securities share
one model.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

F64 = npt.NDArray[np.float64]


@dataclass(frozen=True)
class RiskModel:
    """What the optimiser derives from the price window alone."""

    cov: F64 | None  # Ledoit-Wolf, annualised, in the order of the symbols; None without MV
    hrp: dict[str, float] | None  # None when HRP is not blended in (or fails)
    high_correlations: tuple[tuple[str, str, float], ...]


RiskMemo = dict[tuple[tuple[str, ...], float], RiskModel]  # (symbols, blend) → model


def single_linkage_order(dist: F64) -> list[int]:
    """Leaf order of the single-linkage dendrogram of the distance matrix ``dist`` (its
    upper triangle), as SciPy's ``to_tree(linkage(squareform(dist), "single")).pre_order()``
    gives it: the same minimum-spanning-tree merges in the same order, the same cluster
    labels (smaller root first), the same left-first walk; ``ValueError`` on a non-finite
    distance, as SciPy. NumPy only: scipy.cluster and scipy.spatial cost ~8 MB resident."""
    n = len(dist)
    upper = np.triu(dist, 1)
    sym = upper + upper.T  # the condensed form holds the upper triangle only
    if not np.all(np.isfinite(sym)):
        raise ValueError("The condensed distance matrix must contain only finite values.")
    if n < 2:
        return list(range(n))
    merged = np.zeros(n, dtype=bool)
    nearest = np.full(n, np.inf)
    steps = np.empty((n - 1, 3))
    x = 0
    for k in range(n - 1):  # Prim's tree, each step from the node added last
        merged[x] = True
        nearest = np.where(merged, nearest, np.minimum(nearest, sym[x]))
        y = int(np.argmin(np.where(merged, np.inf, nearest)))  # the first of equals
        steps[k] = (x, y, nearest[y])
        x = y
    steps = steps[np.argsort(steps[:, 2], kind="mergesort")]
    parent = list(range(2 * n - 1))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    children: list[tuple[int, int]] = []
    for k, (a, b, _) in enumerate(steps):
        ra, rb = root(int(a)), root(int(b))
        parent[ra] = parent[rb] = n + k
        children.append((min(ra, rb), max(ra, rb)))
    order: list[int] = []
    stack = [2 * n - 2]
    while stack:
        node = stack.pop()
        if node < n:
            order.append(node)
        else:
            left, right = children[node - n]
            stack += (right, left)
    return order


def hrp_weights(returns: F64) -> F64:
    """Hierarchical risk parity (López de Prado; the algorithm of PyPortfolioOpt's ``HRPOpt``
    with single linkage) on a returns matrix [day, asset], in NumPy: the same weights without
    the per-cluster pandas indexing that makes the library version ~50× slower."""
    cov = np.cov(returns, rowvar=False)
    sd = np.sqrt(np.diag(cov))
    corr = cov / np.outer(sd, sd)
    dist = np.sqrt(np.clip((1.0 - corr) / 2.0, 0.0, 1.0))
    order = single_linkage_order(dist)
    w = np.ones(cov.shape[0])
    inv_diag = 1.0 / np.diag(cov)

    def cluster_var(items: list[int]) -> float:
        iv = inv_diag[items] / inv_diag[items].sum()
        return float(iv @ cov[np.ix_(items, items)] @ iv)

    clusters: list[list[int]] = [order]
    while clusters:
        clusters = [c[j:k] for c in clusters for j, k in ((0, len(c) // 2), (len(c) // 2, len(c)))
                    if len(c) > 1]
        for i in range(0, len(clusters), 2):
            first, second = clusters[i], clusters[i + 1]
            v1, v2 = cluster_var(first), cluster_var(second)
            alpha = 1 - v1 / (v1 + v2)
            w[first] *= alpha
            w[second] *= 1 - alpha
    return w


def _hrp(returns: F64, syms: Sequence[str]) -> dict[str, float] | None:
    if returns.shape[1] < 2:
        return None
    try:
        w = hrp_weights(returns)
        if not np.all(np.isfinite(w)):
            return None
        return {c: float(v) for c, v in zip(syms, w, strict=True)}
    except Exception:
        return None


def risk_model(window: F64, syms: list[str], blend: float) -> RiskModel:
    """Covariance (when mean-variance is blended in), HRP weights (when HRP is) and the
    most correlated pairs of ``syms`` from their closes ``window[asset, day]``."""
    if len(syms) < 2:
        return RiskModel(None, None, ())
    px = filled_closes(window).T  # [day, asset]
    returns = px[1:] / px[:-1] - 1.0
    cov = None
    if blend < 1.0:
        cov = _positive_semidefinite(ledoit_wolf(returns) * 252)
    hrp = _hrp(returns, syms) if blend > 0.0 else None
    pairs: tuple[tuple[str, str, float], ...] = ()
    with contextlib.suppress(Exception):
        c = np.atleast_2d(np.corrcoef(returns, rowvar=False))
        iu = np.triu_indices(len(syms), 1)
        vals = c[iu]
        order = np.argsort(-np.abs(np.nan_to_num(vals)))[:5]
        pairs = tuple((syms[iu[0][k]], syms[iu[1][k]], float(vals[k])) for k in order
                      if abs(vals[k]) >= 0.80)
    return RiskModel(cov, hrp, pairs)


def _positive_semidefinite(cov: F64) -> F64:
    """``cov`` unchanged when its Cholesky test passes, else its spectral repair: the
    eigen-decomposition with negative eigenvalues set to zero, recomposed (the same
    figures as PyPortfolioOpt's ``fix_nonpositive_semidefinite(cov, "spectral")``,
    without importing it: it brings cvxpy and its solvers, ~200 MB resident)."""
    try:
        np.linalg.cholesky(cov + 1e-16 * np.eye(len(cov)))
        return cov
    except np.linalg.LinAlgError:
        values, vectors = np.linalg.eigh(cov)
        fixed: F64 = vectors @ np.diag(np.where(values > 0, values, 0)) @ vectors.T
        return fixed


def filled_closes(window: F64) -> F64:
    """Closes ``window[asset, day]`` with non-positive or missing values forward-filled,
    then leading gaps back-filled (pandas' ``where(> 0).ffill().bfill()``); a series with
    no price stays NaN."""
    x = np.where(window > 0, window, np.nan)
    if x.size == 0:
        return x
    rows = np.arange(x.shape[0])[:, None]
    last = np.where(np.isfinite(x), np.arange(x.shape[1]), 0)
    np.maximum.accumulate(last, axis=1, out=last)
    x = x[rows, last]
    first = np.argmax(np.isfinite(x), axis=1)
    leading = np.arange(x.shape[1])[None, :] < first[:, None]
    return np.where(leading, x[rows[:, 0], first][:, None], x)


def ledoit_wolf(returns: F64) -> F64:
    """Ledoit-Wolf shrunk covariance of ``returns[day, asset]`` (per day, not annualised):
    scikit-learn's ``ledoit_wolf`` (constant-variance target), which PyPortfolioOpt's
    ``CovarianceShrinkage.ledoit_wolf`` calls, in NumPy without the DataFrame round trips;
    tested equal to it."""
    x = np.nan_to_num(returns)
    n, p = x.shape
    x = x - x.mean(axis=0)
    emp = x.T @ x / n
    x2 = x * x
    emp_trace = x2.sum(axis=0) / n
    mu = float(emp_trace.sum()) / p
    beta_sum = float((x2.T @ x2).sum())
    delta_sum = float(((x.T @ x) ** 2).sum()) / n**2
    beta = (beta_sum / n - delta_sum) / (p * n)
    delta = (delta_sum - 2.0 * mu * float(emp_trace.sum()) + p * mu**2) / p
    beta = min(beta, delta)
    shrinkage = 0.0 if beta == 0 else beta / delta
    cov = (1.0 - shrinkage) * emp
    cov.flat[:: p + 1] += shrinkage * mu
    return cov
