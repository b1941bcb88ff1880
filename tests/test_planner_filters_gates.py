"""Quality gates for optimiser-driven buys: quality, value trap, bubble risk; a buy
the optimiser wants but the gates refuse is stated with its reason, and the targets the
planner acts on go to buyable securities."""

from __future__ import annotations

import dataclasses

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from arduino_trader.domain.planner.gates import (
    bubble_risk,
    optimiser_buy_gate,
    quality_gate,
    value_trap,
)
from arduino_trader.domain.planner.models import PlannerSettings
from arduino_trader.domain.planner.plan import plan
from arduino_trader.domain.planner.prepare import prepare
from arduino_trader.domain.scoring import kernels as k
from arduino_trader.domain.scoring.scorers import Fundamentals, MetricInputs, score_security
from tests.bundled_plan import bundled_input
from tests.test_planner_plan import synthetic


def _metrics(last: float = 100.0, ema: float = 100.0, rsi: float = 50.0,
             momentum: float = 0.0) -> np.ndarray:
    row = np.full(k.N_METRICS, np.nan)
    row[k.M_LAST], row[k.M_EMA_200], row[k.M_RSI], row[k.M_MOMENTUM] = last, ema, rsi, momentum
    row[k.M_N_VALID] = 500
    return row


WEAK = Fundamentals(trailing_pe=8.0, profit_margin=-0.2, debt_to_equity=180.0,
                    current_ratio=0.5)
STRONG = Fundamentals(trailing_pe=18.0, profit_margin=0.25, debt_to_equity=20.0,
                      current_ratio=2.0)


def _score(cagr: float, sharpe: float, below_high: float, f: Fundamentals) -> object:
    return score_security("X", MetricInputs(500, 100.0, cagr, cagr - 0.01, sharpe, sharpe,
                                            0.25, -0.3, 50.0, 100.0, 0.5, 0.0, below_high),
                          f)


def test_quality_gate() -> None:
    weak = _score(-0.05, -0.5, 0.1, WEAK)
    strong = _score(0.12, 1.2, 0.1, STRONG)
    reason = quality_gate(weak, 0.4)  # type: ignore[arg-type]
    assert reason is not None and reason.startswith("quality gate:")
    assert quality_gate(strong, 0.4) is None  # type: ignore[arg-type]


def test_value_trap_needs_cheap_weak_and_falling() -> None:
    trap = _score(-0.05, -0.5, 0.40, WEAK)  # 40 % below the high at P/E 8: looks cheap
    falling = _metrics(last=60.0, ema=80.0, momentum=-0.12)
    reason = value_trap(trap, falling)  # type: ignore[arg-type]
    assert reason is not None and reason.startswith("value trap:")
    # Recovering (above the EMA, momentum up): not a trap.
    assert value_trap(trap, _metrics(last=90.0, ema=80.0, momentum=0.05)) is None  # type: ignore[arg-type]
    # Cheap but of good quality: a bargain, not a trap.
    good = _score(0.12, 1.2, 0.40, STRONG)
    assert value_trap(good, falling) is None  # type: ignore[arg-type]
    # Not cheap: not a trap.
    dear = _score(-0.05, -0.5, 0.0, Fundamentals(trailing_pe=40.0, profit_margin=-0.2))
    assert value_trap(dear, falling) is None  # type: ignore[arg-type]


def test_bubble_risk() -> None:
    hot = _metrics(last=150.0, ema=100.0, rsi=78.0, momentum=0.1)
    reason = bubble_risk(hot, None, 22.0)
    assert reason is not None and reason.startswith("bubble risk:")
    assert bubble_risk(_metrics(last=150.0, ema=100.0, rsi=55.0, momentum=0.1), None,
                       22.0) is None  # stretched but cooling
    assert bubble_risk(_metrics(last=110.0, ema=100.0, rsi=80.0, momentum=0.4), None,
                       22.0) is None  # hot but close to the trend
    pe = bubble_risk(_metrics(momentum=0.2), Fundamentals(trailing_pe=80.0), 22.0)
    assert pe is not None and "P/E" in pe
    assert bubble_risk(_metrics(momentum=0.05), Fundamentals(trailing_pe=80.0), 22.0) is None


@settings(max_examples=60, deadline=None)
@given(last=st.floats(1.0, 500.0), ema=st.floats(1.0, 500.0), rsi=st.floats(0.0, 100.0),
       momentum=st.floats(-0.9, 2.0), pe=st.one_of(st.none(), st.floats(1.0, 200.0)))
def test_bubble_risk_is_monotone_in_the_stretch(last: float, ema: float, rsi: float,
                                                 momentum: float, pe: float | None) -> None:
    """A security flagged as a bubble stays flagged when its price runs further up."""
    f = Fundamentals(trailing_pe=pe)
    if bubble_risk(_metrics(last, ema, rsi, momentum), f, 22.0) is not None:
        assert bubble_risk(_metrics(last * 1.2, ema, rsi, momentum), f, 22.0) is not None
    if last / ema - 1 < 0.30 and (pe is None or pe < 55.0):
        assert bubble_risk(_metrics(last, ema, rsi, momentum), f, 22.0) is None


def test_unscored_securities_fail_the_gate() -> None:
    assert optimiser_buy_gate(None, _metrics(), None, min_quality=0.4, market_pe=22.0) \
        == "quality gate: not scored"


def test_bundled_refusals_are_stated_and_never_bought() -> None:
    """On 2022-12-20 the optimiser likes defensive names trading near their 52-week highs;
    those buys are refused with the reason and the targets move to buyable names."""
    inp = bundled_input(15_000.0)
    prep = prepare(inp, {})
    assert not isinstance(prep, str)
    assert prep.refused_buys, "the optimiser wanted a refused buy"
    assert any("52-week high" in r for r in prep.refused_buys.values())
    for symbol, reason in prep.refused_buys.items():
        assert reason.startswith("optimiser target ")
        assert prep.optimizer is not None
        assert prep.optimizer.target_weights.get(symbol, 0.0) <= 1e-9, symbol
    r = plan(inp)
    assert r.status == "plan", r.reason
    assert dict(r.refused_buys) == prep.refused_buys
    assert not {s.symbol for s in r.steps} & set(r.refused_buys)
    assert r.to_dict()["refused_buys"] == dict(r.refused_buys)
    # Stated where the API shows them too (the plan's warnings), never as optimiser errors.
    stated = [w for w in r.warnings if w.startswith("refused buy ")]
    assert len(stated) == len(r.refused_buys)
    assert not any(w.startswith("optimiser") for w in r.warnings)


def test_a_strict_quality_gate_refuses_optimiser_buys() -> None:
    """With the minimum quality at 1 every optimiser buy fails the quality gate: no
    weight-based buy is proposed and the refusals say why."""
    base = synthetic(cash=20_000.0)
    strict = dataclasses.replace(base, settings=dataclasses.replace(
        base.settings, quality_gate_min_quality=1.0))
    prep = prepare(strict, {})
    assert not isinstance(prep, str)
    assert prep.refused_buys
    assert all("quality gate" in r or "52-week" in r or "score below" in r
               or "bought recently" in r for r in prep.refused_buys.values())
    assert not any(c.category == "weight_based" and c.side == "BUY" for c in prep.pool)
    # Switched off, the same input gets weight-based buys again.
    off = dataclasses.replace(base, settings=dataclasses.replace(
        base.settings, enable_quality_gates=False, quality_gate_min_quality=1.0))
    prep_off = prepare(off, {})
    assert not isinstance(prep_off, str)
    assert not any("quality gate" in r for r in prep_off.refused_buys.values())


def test_planner_settings_map_the_new_keys() -> None:
    s = PlannerSettings.from_settings({
        "enable_diverse_selection": False, "diversity_weight": 0.5,
        "enable_diversity_filter": False, "enable_correlation_aware": False,
        "correlation_threshold": 0.8, "enable_market_regime_scenarios": False,
        "enable_quality_gates": False, "quality_gate_min_quality": 0.3,
        "enable_forward_adjustment": False})
    assert (s.enable_diverse_selection, s.diversity_weight, s.enable_diversity_filter,
            s.enable_correlation_aware, s.correlation_threshold,
            s.enable_market_regime_scenarios, s.enable_quality_gates,
            s.quality_gate_min_quality, s.enable_forward_adjustment) == (
        False, 0.5, False, False, 0.8, False, False, 0.3, False)
