"""Scorer formulas (security, windfall, sell), including the project's fixes."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from arduino_trader.domain.scoring import curves as cv
from arduino_trader.domain.scoring import scorers as sc
from arduino_trader.domain.scoring.sell import SellInputs, sell_score, windfall

UNIT = st.floats(-5, 5, allow_nan=False)


@pytest.mark.parametrize("fn", [cv.sortino_score, cv.sharpe_score, cv.momentum_score,
                                cv.drawdown_score, cv.rsi_score, cv.bollinger_score,
                                cv.payout_score, cv.below_high_score])
def test_missing_data_is_neutral(fn: object) -> None:
    assert fn(None) == 0.5  # type: ignore[operator]
    assert fn(math.nan) == 0.5  # type: ignore[operator]


@given(UNIT)
def test_scores_stay_in_unit_interval(x: float) -> None:
    for fn in (cv.cagr_score, cv.sortino_score, cv.sharpe_score, cv.below_high_score,
               cv.dividend_yield_score, cv.payout_score, cv.momentum_score,
               cv.drawdown_score, cv.bollinger_score):
        assert 0.0 <= fn(x) <= 1.0
    assert 0.0 <= cv.rsi_score(50 + 10 * x) <= 1.0
    assert 0.0 <= cv.pe_score(abs(x) * 10, 20) <= 1.0
    assert 0.0 <= cv.ema_distance_score(100 + 10 * x, 100) <= 1.0


def test_spec_values() -> None:
    assert cv.cagr_score(0.11) == pytest.approx(1.0)
    assert cv.cagr_score(-0.02) == 0.15
    assert cv.sortino_score(1.75) == pytest.approx(0.9)
    assert cv.sharpe_score(1.5) == pytest.approx(0.85)
    assert cv.below_high_score(0.15) == pytest.approx(0.65)
    assert cv.pe_score(22 * 0.85, None) == pytest.approx(0.85)
    assert cv.pe_score(None, 10) == 0.3
    assert cv.dividend_yield_score(0.04) == pytest.approx(0.8)
    assert cv.rsi_score(50) == pytest.approx(0.5)
    assert cv.ema_distance_score(95, 100) == pytest.approx(0.7)
    assert cv.financial_strength_score(None, None, None) == 0.5
    assert cv.financial_strength_score(0.2, 100, 2) == pytest.approx(0.4 + 0.15 + 0.3)
    assert cv.consistency_score(0.10, None) == 0.6
    assert cv.consistency_score(0.10, 0.11) == 1.0
    assert cv.opinion_score(1.0, 0.2) == pytest.approx(1.0)


@given(st.floats(-0.5, 0.6))
def test_momentum_is_continuous_at_minus_ten_percent(m: float) -> None:
    """The proposed fix: no jump 0.5 → 0.2 at −10 %."""
    eps = 1e-9
    assert abs(cv.momentum_score(-0.1 + eps) - cv.momentum_score(-0.1 - eps)) < 1e-6
    assert cv.momentum_score(m) >= 0.2


def test_diversification_rewards_underweight_groups() -> None:
    under = cv.gap_score(target=0.5, current=0.2)
    over = cv.gap_score(target=0.2, current=0.5)
    assert under > 0.5 > over
    assert cv.gap_score(0.5, 0.5) == 0.5


def test_dividend_growth_uses_yield_ratio() -> None:
    assert cv.dividend_growth_score(0.04, 0.03) == 1.0
    assert cv.dividend_growth_score(0.024, 0.03) == pytest.approx(0.5)
    assert cv.dividend_growth_score(0.01, 0.03) == 0.2
    assert cv.dividend_growth_score(None, 0.03) == 0.5


def _metrics(**kw: float) -> sc.MetricInputs:
    base = {"n_bars": 300, "last_price": 100.0, "cagr_5y": 0.11, "sharpe": 1.0,
            "sortino": 1.5, "volatility": 0.2, "max_drawdown": -0.15, "rsi": 40.0,
            "ema_200": 105.0, "bollinger": 0.3, "momentum": 0.08, "below_high": 0.12}
    base.update(kw)
    return sc.MetricInputs(**base)  # type: ignore[arg-type]


def test_total_is_weighted_sum_and_explainable() -> None:
    s = sc.score_security("X", _metrics())
    assert set(s.groups) == set(sc.GROUP_WEIGHTS)
    assert s.total == pytest.approx(sum(s.weights[g] * s.groups[g].score for g in s.groups),
                                    abs=1e-3)
    for g in s.groups.values():
        assert g.score == pytest.approx(min(1.0, sum(v * w for v, w in g.components.values())),
                                        abs=1e-3)
    e = s.explain()
    assert e["total"] == s.total and "long_term" in e["groups"]  # type: ignore[operator]


def test_no_data_scores_neutral_not_perfect() -> None:
    s = sc.score_security("X", sc.MetricInputs(n_bars=0))
    assert s.groups["short_term"].score == 0.5  # missing drawdown is not "perfect"
    assert s.groups["technicals"].score == 0.5
    assert 0.3 < s.total < 0.6
    assert s.notes


def test_short_history_is_neutral_for_technicals_and_opportunity() -> None:
    s = sc.score_security("X", _metrics(n_bars=15, rsi=10.0, below_high=0.5))
    assert s.groups["technicals"].score == 0.5
    assert s.groups["opportunity"].score == 0.5


def test_windfall_rules() -> None:
    w = windfall(1.2, 365, 0.10, None)
    assert w.expected == pytest.approx(0.10)
    assert w.score == 1.0 and w.sell_pct == 0.5
    assert windfall(0.05, 365, 0.10, None).sell_pct == 0.0
    assert windfall(0.45, 365, 0.10, None).sell_pct == 0.2
    assert windfall(0.2, None, None, None).expected == pytest.approx(0.10)


def _sell(**kw: object) -> SellInputs:
    base: dict[str, object] = dict(
        symbol="X", quantity=100, price_eur=10.0, avg_cost_eur=12.0, position_share=0.08,
        country_alloc=0.6, industry_allocs=(0.3,), days_since_first_buy=800,
        days_since_last_buy=400, days_since_last_sell=None, volatility_60d=0.3,
        volatility_1y=0.2, price_vs_sma200=-0.05, current_drawdown=-0.2,
        days_underwater=100)
    base.update(kw)
    return SellInputs(**base)  # type: ignore[arg-type]


def test_sell_blocks_and_quantity() -> None:
    ok = sell_score(_sell())
    assert ok.eligible and 0.1 <= ok.suggested_pct <= 0.5
    assert 0 < ok.suggested_quantity < 100
    assert not sell_score(_sell(allow_sell=False)).eligible
    assert not sell_score(_sell(avg_cost_eur=20.0)).eligible  # −50 % loss
    assert not sell_score(_sell(days_since_last_buy=10)).eligible
    assert not sell_score(_sell(days_since_last_sell=30)).eligible
    # min hold counts from the last buy only: an old sell does not block.
    assert sell_score(_sell(days_since_last_sell=400)).eligible
    tiny = sell_score(_sell(quantity=1))
    assert tiny.suggested_quantity == 0  # never the last lot


def test_portfolio_score() -> None:
    from arduino_trader.domain.scoring.portfolio import portfolio_score

    assert portfolio_score({}, {}, {}, {}, {}).total == 50.0
    on_target = portfolio_score({"A": 50, "B": 50}, {"A": "EU", "B": "US"},
                                {"EU": 0.5, "US": 0.5}, {"A": 0.03, "B": 0.01},
                                {"A": 0.8, "B": 0.6})
    assert on_target.diversification == 100.0
    assert on_target.dividend == pytest.approx(50.0)
    assert on_target.quality == pytest.approx(70.0)
    skewed = portfolio_score({"A": 100}, {"A": "EU"}, {"EU": 0.5, "US": 0.5}, {}, {})
    assert skewed.diversification == 0.0  # mean deviation 0.5 > 0.3
    half = portfolio_score({"A": 65, "B": 35}, {"A": "EU", "B": "US"}, {"EU": 0.5, "US": 0.5},
                           {}, {})
    assert half.diversification == pytest.approx(50.0)


def test_score_universe_and_record() -> None:
    import numpy as np

    from arduino_trader.domain.scoring.universe import score_universe

    rng = np.random.default_rng(0)
    prices = 20 * np.exp(np.cumsum(rng.normal(0.0005, 0.01, (3, 300)), axis=1))
    prices[2] = np.nan
    out = score_universe(["A", "B", "C"], prices,
                         {"A": sc.Fundamentals(dividend_yield=0.05)})
    assert out[2] is None and out[0] is not None and out[1] is not None
    assert out[0].groups["dividends"].score > out[1].groups["dividends"].score
    rec = out[0].to_record()
    assert rec["symbol"] == "A" and rec["total_score"] == out[0].total
    assert "long_term_score" in rec and "breakdown" in rec
    with pytest.raises(ValueError):
        score_universe(["A"], prices)
