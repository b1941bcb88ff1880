"""Portfolio analytics (returns, risk ratios, attribution, turnover): computed once here,
reused by the endpoints, the satellites and the backtest.

Pure float64 maths on series handed in by the caller (no clock, no store). Returns are
time-weighted and net of external cash flows, so a deposit is never counted as
performance: ``r_t = (V_t - F_t) / V_{t-1} - 1`` with ``F_t`` the net external flow of day
``t`` (deposits > 0, withdrawals < 0). Every figure that comes out non-finite is 0.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Literal

import numpy as np
import numpy.typing as npt

from arduino_trader.domain.allocation import industries as split_industries

TRADING_DAYS = 252
UNKNOWN_GROUP = "Unknown"
MIN_DEVIATION = 1e-12
"""A daily deviation below this is numerically zero: the ratios over it are reported 0."""

FloatArray = npt.NDArray[np.float64]


class InsufficientData(ValueError):
    """Fewer than two valuation points: no return can be computed."""


def finite(value: float) -> float:
    """``value`` if finite, else 0 (the rule for every published figure)."""
    return float(value) if math.isfinite(value) else 0.0


def daily_returns(values: Sequence[float], flows: Sequence[float] | None = None) -> FloatArray:
    """Time-weighted daily returns ``(V_t - F_t) / V_{t-1} - 1`` for t = 1..n-1.

    ``flows[t]`` is the net external flow booked on day ``t`` (``flows[0]`` is ignored).
    A day whose previous value is not positive yields 0 (no capital, no return).
    """
    v = np.asarray(values, dtype=np.float64)
    f = np.zeros_like(v) if flows is None else np.asarray(flows, dtype=np.float64)
    if v.shape != f.shape:
        raise ValueError("values and flows must have the same length")
    if v.size < 2:
        return np.zeros(0, dtype=np.float64)
    prev = v[:-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        r = (v[1:] - f[1:]) / prev - 1.0
    r[~(prev > 0)] = 0.0
    r[~np.isfinite(r)] = 0.0
    return r


def total_return(returns: Sequence[float] | FloatArray) -> float:
    """Compounded return over the whole period."""
    r = np.asarray(returns, dtype=np.float64)
    return finite(float(np.prod(1.0 + r)) - 1.0) if r.size else 0.0


def annualised_return(returns: Sequence[float] | FloatArray) -> float:
    """``(Π(1 + r))^(252/n) - 1``; 0 for no returns, -1 for a total loss."""
    r = np.asarray(returns, dtype=np.float64)
    if r.size == 0:
        return 0.0
    growth = float(np.prod(1.0 + r))
    if growth <= 0:
        return -1.0
    return finite(growth ** (TRADING_DAYS / r.size) - 1.0)


def volatility(returns: Sequence[float] | FloatArray) -> float:
    """Annualised sample standard deviation (ddof 1) of daily returns."""
    r = np.asarray(returns, dtype=np.float64)
    if r.size < 2:
        return 0.0
    return finite(float(np.std(r, ddof=1)) * math.sqrt(TRADING_DAYS))


def sharpe_ratio(returns: Sequence[float] | FloatArray, risk_free: float = 0.0) -> float:
    """``(mean r - rf/252) / std · √252``; 0 when the deviation is 0."""
    r = np.asarray(returns, dtype=np.float64)
    if r.size < 2:
        return 0.0
    std = float(np.std(r, ddof=1))
    if not std >= MIN_DEVIATION or not math.isfinite(std):
        return 0.0
    return finite((float(np.mean(r)) - risk_free / TRADING_DAYS) / std * math.sqrt(TRADING_DAYS))


def downside_deviation(returns: Sequence[float] | FloatArray, mar: float = 0.0) -> float:
    """Root mean square of the shortfalls below ``mar/252`` (daily, not annualised)."""
    r = np.asarray(returns, dtype=np.float64)
    if r.size == 0:
        return 0.0
    short = np.minimum(r - mar / TRADING_DAYS, 0.0)
    return finite(math.sqrt(float(np.mean(short * short))))


def sortino_ratio(returns: Sequence[float] | FloatArray, mar: float = 0.0) -> float:
    """``(mean r - mar/252) / downside deviation · √252``; 0 with no downside. Defined
    from one return on (unlike the sample deviation, the downside deviation needs no
    second point)."""
    r = np.asarray(returns, dtype=np.float64)
    if r.size == 0:
        return 0.0
    dd = downside_deviation(r, mar)
    if dd < MIN_DEVIATION:
        return 0.0
    return finite((float(np.mean(r)) - mar / TRADING_DAYS) / dd * math.sqrt(TRADING_DAYS))


def wealth_index(returns: Sequence[float] | FloatArray) -> FloatArray:
    """1 followed by the compounded wealth after each return."""
    r = np.asarray(returns, dtype=np.float64)
    return np.concatenate(([1.0], np.cumprod(1.0 + r)))


def max_drawdown(returns: Sequence[float] | FloatArray) -> float:
    """Largest peak-to-trough fall of the wealth index, as a fraction ≤ 0."""
    wealth = wealth_index(returns)
    peaks = np.maximum.accumulate(wealth)
    with np.errstate(divide="ignore", invalid="ignore"):
        falls = np.where(peaks > 0, wealth / peaks - 1.0, 0.0)
    return finite(min(0.0, float(np.min(falls))))


def calmar_ratio(annual: float, drawdown: float) -> float:
    """Annual return over |max drawdown|; 0 when there was no drawdown."""
    return 0.0 if drawdown == 0 else finite(annual / abs(drawdown))


def monthly_returns(days: Sequence[date], returns: Sequence[float] | FloatArray
                    ) -> list[tuple[str, float]]:
    """Returns compounded per calendar month (``YYYY-MM``), in date order."""
    if len(days) != len(returns):
        raise ValueError("one day per return")
    growth: dict[str, float] = {}
    for day, r in zip(days, returns, strict=True):
        key = f"{day.year:04d}-{day.month:02d}"
        growth[key] = growth.get(key, 1.0) * (1.0 + float(r))
    return [(month, finite(g - 1.0)) for month, g in growth.items()]


@dataclass(frozen=True)
class Performance:
    """The return and risk figures of one valuation series."""

    start: date
    end: date
    daily: tuple[tuple[date, float], ...]
    monthly: tuple[tuple[str, float], ...]
    total: float
    annual: float
    volatility: float
    sharpe: float
    sortino: float
    max_drawdown: float
    calmar: float

    @property
    def days(self) -> int:
        """Number of daily returns."""
        return len(self.daily)


def performance(days: Sequence[date], values: Sequence[float],
                flows: Sequence[float] | None = None, *, risk_free: float = 0.0,
                mar: float = 0.0) -> Performance:
    """Every return and risk figure of ``values`` (one per day, oldest first).

    Raises :class:`InsufficientData` with fewer than two points.
    """
    if len(days) != len(values) or (flows is not None and len(flows) != len(values)):
        raise ValueError("days, values and flows must have the same length")
    if len(values) < 2:
        raise InsufficientData(f"{len(values)} valuation point(s); at least 2 are needed")
    r = daily_returns(values, flows)
    annual = annualised_return(r)
    dd = max_drawdown(r)
    return Performance(
        start=days[0], end=days[-1],
        daily=tuple((d, float(x)) for d, x in zip(days[1:], r, strict=True)),
        monthly=tuple(monthly_returns(list(days[1:]), r)),
        total=total_return(r), annual=annual, volatility=volatility(r),
        sharpe=sharpe_ratio(r, risk_free), sortino=sortino_ratio(r, mar), max_drawdown=dd,
        calmar=calmar_ratio(annual, dd))


# ------------------------------------------------------------------ attribution
def weights(values: Mapping[str, float]) -> dict[str, float]:
    """Each holding's share of the positive total (empty when nothing is held)."""
    total = sum(v for v in values.values() if v > 0)
    if total <= 0:
        return {}
    return {k: v / total for k, v in values.items() if v > 0}


def _annualise_sum(total: float, n: int) -> float:
    if n == 0:
        return 0.0
    base = 1.0 + total
    if base <= 0:
        return -1.0
    return finite(base ** (TRADING_DAYS / n) - 1.0)


def attribution(returns: Sequence[float], day_weights: Sequence[Mapping[str, float]],
                groups: Mapping[str, Sequence[str]] | None = None) -> dict[str, float]:
    """Annualised contribution of each group to the portfolio return.

    Day ``t`` contributes ``r_t · w_i`` for every holding ``i`` (``day_weights[t]``) to the
    groups of ``i`` (a multi-group holding's weight is split equally; no groups = the
    holding itself; unknown = ``Unknown``). Per group: ``(1 + Σ)^(252/n) - 1`` with n the
    number of days, ≤ -1 clamps to -1, non-finite to 0.
    """
    if len(returns) != len(day_weights):
        raise ValueError("one weight map per return")
    sums: dict[str, float] = {}
    for r, ws in zip(returns, day_weights, strict=True):
        for holding, w in ws.items():
            names = [holding] if groups is None else list(groups.get(holding) or ()) \
                or [UNKNOWN_GROUP]
            share = float(r) * w / len(names)
            for name in names:
                sums[name] = sums.get(name, 0.0) + share
    n = len(returns)
    return {name: _annualise_sum(total, n) for name, total in sorted(sums.items())}


def attribute(returns: Sequence[float], day_weights: Sequence[Mapping[str, float]],
              countries: Mapping[str, str | None], industries: Mapping[str, str | None]
              ) -> dict[str, dict[str, float]]:
    """Attribution by country, by industry (comma-separated industries split) and by
    security, keyed as the analytics endpoint reports it."""
    by_country = {k: [v] if v else [] for k, v in countries.items()}
    by_industry = {k: split_industries(v or "") for k, v in industries.items()}
    return {"country": attribution(returns, day_weights, by_country),
            "industry": attribution(returns, day_weights, by_industry),
            "security": attribution(returns, day_weights, None)}


# --------------------------------------------------------------------- turnover
TurnoverStatus = Literal["normal", "warning", "critical", "unknown"]


@dataclass(frozen=True)
class Turnover:
    """Annual turnover ``(buys + sells) / 2 / mean portfolio value`` and its verdict."""

    annual_turnover: float | None
    status: TurnoverStatus
    alert: str | None
    reason: str

    @property
    def display(self) -> str:
        """``x.xx%`` or ``N/A``."""
        return "N/A" if self.annual_turnover is None else f"{self.annual_turnover * 100:.2f}%"


def turnover(buys_eur: float, sells_eur: float, mean_value_eur: float | None,
             trade_count: int) -> Turnover:
    """Turnover over a 365-day window; none without trades or a positive mean value."""
    if trade_count == 0:
        return Turnover(None, "unknown", None, "no trades in the period")
    if mean_value_eur is None or not mean_value_eur > 0:
        return Turnover(None, "unknown", None, "no portfolio value to compare with")
    value = finite((buys_eur + sells_eur) / 2.0 / mean_value_eur)
    if value >= 1.0:
        return Turnover(value, "critical", "critical", "turnover ≥ 100% a year")
    if value >= 0.5:
        return Turnover(value, "warning", "warning", "turnover ≥ 50% a year")
    return Turnover(value, "normal", None, "turnover below 50% a year")


# ---------------------------------------------------------------------- regions
_EU = frozenset({
    "AT", "BE", "BG", "CH", "CY", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "GB", "GR", "HR",
    "HU", "IE", "IS", "IT", "LI", "LT", "LU", "LV", "MT", "NL", "NO", "PL", "PT", "RO", "SE",
    "SI", "SK", "AUSTRIA", "BELGIUM", "BULGARIA", "SWITZERLAND", "CYPRUS", "CZECH REPUBLIC",
    "CZECHIA", "GERMANY", "DENMARK", "ESTONIA", "SPAIN", "FINLAND", "FRANCE",
    "UNITED KINGDOM", "UK", "GREECE", "CROATIA", "HUNGARY", "IRELAND", "ICELAND",
    "LIECHTENSTEIN", "LITHUANIA", "LUXEMBOURG", "LATVIA", "MALTA", "NETHERLANDS",
    "THE NETHERLANDS", "NORWAY", "POLAND", "PORTUGAL", "ROMANIA", "SWEDEN", "SLOVENIA",
    "SLOVAKIA", "EUROPE",
})
_ASIA = frozenset({
    "CN", "HK", "JP", "KR", "SG", "TW", "IN", "ID", "MY", "TH", "PH", "VN", "CHINA",
    "HONG KONG", "JAPAN", "SOUTH KOREA", "KOREA", "SINGAPORE", "TAIWAN", "INDIA",
    "INDONESIA", "MALAYSIA", "THAILAND", "PHILIPPINES", "VIETNAM", "ASIA",
})
_US = frozenset({"US", "USA", "UNITED STATES", "UNITED STATES OF AMERICA"})
Region = Literal["EU", "ASIA", "US", "OTHER"]


def region_of(country: str | None) -> Region:
    """The legacy EU/ASIA/US region of a country (name or ISO code); OTHER otherwise."""
    key = (country or "").strip().upper()
    if key in _EU:
        return "EU"
    if key in _ASIA:
        return "ASIA"
    if key in _US:
        return "US"
    return "OTHER"


def region_shares(values: Mapping[str, float], countries: Mapping[str, str | None]
                  ) -> dict[Region, float]:
    """Percent of the positive position value per region (all four keys, 0 when empty)."""
    out: dict[Region, float] = {"EU": 0.0, "ASIA": 0.0, "US": 0.0, "OTHER": 0.0}
    for holding, w in weights(values).items():
        out[region_of(countries.get(holding))] += w * 100.0
    return out
