"""The study's overfitting guard (pure): the deflated Sharpe ratio.

The best of ``N`` trials has a Sharpe ratio inflated by the search itself. The deflated
Sharpe ratio is the probability that the true Sharpe ratio of the selected returns is
above the best one expected from ``N`` unskilled trials, given the returns' length,
skewness and kurtosis:

``SR0 = sqrt(V) * ((1 - g) * Z(1 - 1/N) + g * Z(1 - 1/(N e)))`` with ``V`` the variance of
the trials' Sharpe ratios, ``g`` the Euler-Mascheroni constant and ``Z`` the standard
normal quantile; then ``DSR = Phi((SR - SR0) * sqrt(T - 1) / sqrt(1 - s SR + (k - 1) / 4
SR^2))`` with ``SR`` the per-period Sharpe ratio of the selected returns, ``s`` their
skewness and ``k`` their (non-excess) kurtosis. All Sharpe ratios here are per period
(daily, not annualised).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist

EULER_GAMMA = 0.5772156649015329
_NORMAL = NormalDist()


@dataclass(frozen=True)
class Moments:
    """Per-period Sharpe ratio, skewness, kurtosis and length of a return series."""

    sharpe: float
    skew: float
    kurtosis: float
    count: int


def moment_sums(returns: Sequence[float]) -> list[float]:
    """``[n, sum r, sum r^2, sum r^3, sum r^4]``: what :func:`moments` needs, and what
    several windows' returns add up to (element-wise) when pooled."""
    return [float(len(returns)), *(math.fsum(r ** p for r in returns) for p in (1, 2, 3, 4))]


def pool(sums: Sequence[Sequence[float]]) -> list[float]:
    """The moment sums of several return series taken together."""
    return [math.fsum(column) for column in zip(*sums, strict=True)] if sums else [0.0] * 5


def moments(sums: Sequence[float]) -> Moments | None:
    """The moments from :func:`moment_sums`; None for fewer than 3 returns or no
    variation."""
    n, s1, s2, s3, s4 = sums
    if n < 3:
        return None
    mean = s1 / n
    var = s2 / n - mean * mean  # central moments from the raw sums
    if var <= 1e-18:
        return None
    m3 = s3 / n - 3 * mean * s2 / n + 2 * mean ** 3
    m4 = s4 / n - 4 * mean * s3 / n + 6 * mean * mean * s2 / n - 3 * mean ** 4
    sample_sd = math.sqrt(var * n / (n - 1))
    return Moments(mean / sample_sd, m3 / var ** 1.5, m4 / var ** 2, int(n))


def expected_max_sharpe(trial_sharpes: Sequence[float]) -> float:
    """``SR0``: the largest per-period Sharpe ratio expected from ``len(trial_sharpes)``
    unskilled trials with the observed spread; 0 for one trial."""
    n = len(trial_sharpes)
    if n < 2:
        return 0.0
    mean = sum(trial_sharpes) / n
    variance = sum((s - mean) ** 2 for s in trial_sharpes) / (n - 1)
    return math.sqrt(variance) * ((1 - EULER_GAMMA) * _NORMAL.inv_cdf(1 - 1 / n)
                                  + EULER_GAMMA * _NORMAL.inv_cdf(1 - 1 / (n * math.e)))


def deflated_sharpe(selected: Moments, trial_sharpes: Sequence[float]) -> float:
    """The deflated Sharpe ratio (a probability in [0, 1]) of the selected trial's returns
    against ``trial_sharpes`` (every trial's per-period Sharpe ratio)."""
    sr0 = expected_max_sharpe(trial_sharpes)
    sr = selected.sharpe
    denominator = 1 - selected.skew * sr + (selected.kurtosis - 1) / 4 * sr * sr
    if denominator <= 0 or selected.count < 2:
        return 0.0
    z = (sr - sr0) * math.sqrt(selected.count - 1) / math.sqrt(denominator)
    return _NORMAL.cdf(z)
