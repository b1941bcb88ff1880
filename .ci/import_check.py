"""Run in a venv holding the package WITHOUT extras (README's ``pip install -e .``):
import every module of the package, then exercise each path that imports lazily — the
optimiser's PyPortfolioOpt fallback chain and covariance repair, the Yahoo source's session and
the exchange calendars — so a dependency used but not declared fails CI. No network."""

from __future__ import annotations

import importlib
import pkgutil
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

import arduino_trader


def import_every_module() -> int:
    names = [m.name for m in pkgutil.walk_packages(arduino_trader.__path__,
                                                   arduino_trader.__name__ + ".")
             if not m.name.endswith(".__main__")]  # that one runs the CLI
    for name in names:
        importlib.import_module(name)
    return len(names)


def optimiser_fallback() -> str:
    """The direct OSQP solves (efficient return, min volatility) made to fail: the
    PyPortfolioOpt chain runs, as it does when OSQP reports no solution."""
    from arduino_trader.domain import optimizer, optimizer_risk

    syms = ["A", "B", "C"]
    mu = np.array([0.05, 0.07, 0.06])
    cov = np.diag([0.04, 0.09, 0.06])
    direct = optimizer._efficient_return_qp, optimizer._min_volatility_qp
    optimizer._efficient_return_qp = optimizer._min_volatility_qp = lambda *a, **k: None
    try:
        found = optimizer._mean_variance(syms, mu, cov, [(0.0, 1.0)] * 3, {}, {}, {}, {},
                                         5.0)
    finally:
        optimizer._efficient_return_qp, optimizer._min_volatility_qp = direct
    assert "pypfopt" in sys.modules, "the PyPortfolioOpt chain did not run"
    assert found is not None, "PyPortfolioOpt fallback found no weights"
    weights, method = found
    assert "efficient_return" not in method and abs(sum(weights.values()) - 1) < 1e-6, found
    # A covariance that is not positive semi-definite is repaired (PyPortfolioOpt's
    # spectral formula, in NumPy).
    bad = np.array([[1.0, 2.0], [2.0, 1.0]])
    fixed = optimizer_risk._positive_semidefinite(bad)
    assert np.all(np.linalg.eigvalsh(fixed) >= -1e-10)
    return method


def yahoo_source() -> str:
    from arduino_trader.adapters.clock import SystemClock
    from arduino_trader.adapters.market_data.yfinance_source import YFinanceSource
    from arduino_trader.config.settings import defaults

    with tempfile.TemporaryDirectory() as tmp:
        source = YFinanceSource.from_settings(defaults(), SystemClock(), Path(tmp))
    return type(source).__name__


def calendars() -> str:
    from arduino_trader.adapters.market_data.calendars import EXCHANGES, MarketCalendars

    cal = MarketCalendars()  # the session tables come from a child with the library
    cal.load(EXCHANGES)
    at = datetime(2024, 12, 25, 15, 0, tzinfo=UTC)  # Christmas: every supported exchange is closed
    built = [mic for mic in EXCHANGES if cal.status(mic, at) is not None]
    errors = {mic: cal.error(mic) for mic in EXCHANGES if cal.error(mic)}
    assert not errors, errors
    assert not cal.is_open("XNYS", at)
    return f"{len(built)} calendars"


def main() -> int:
    print(f"imported {import_every_module()} modules")
    print(f"optimiser fallback: {optimiser_fallback()}")
    print(f"yahoo source: {yahoo_source()}")
    print(f"exchange calendars: {calendars()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
