"""Plain records the planner takes and returns (no I/O, no Decimal: analytics floats)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from types import MappingProxyType
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from ..execution.costs import CostModel
from ..regime import DEFAULT_CUTS, RegimeCuts, yield_curve_slope
from ..scoring.scorers import Fundamentals, SecurityScore

Side = Literal["BUY", "SELL"]
Category = Literal["profit_taking", "averaging_down", "rebalance_sells", "rebalance_buys",
                   "opportunity_buys", "weight_based"]


@dataclass(frozen=True)
class SecurityInfo:
    """One security of the universe. ``fx_rate`` = units of its currency per EUR."""

    symbol: str
    name: str = ""
    currency: str = "EUR"
    fx_rate: float = 1.0
    country: str | None = None
    industry: str | None = None
    allow_buy: bool = True
    allow_sell: bool = True
    min_lot: int = 1
    fundamentals: Fundamentals | None = None
    min_target: float | None = None
    max_target: float | None = None
    priority_multiplier: float = 1.0  # the owner's weight: × buy, ÷ sell priority and × μ
    dividend_bonus: float = 0.0  # pending dividend cash as an expected-return bonus


@dataclass(frozen=True)
class Holding:
    """A held position; ``avg_price`` in the security's currency; day counts may be unknown.

    ``trade_history_known``: the ledger holds its broker trade history, so day counts that
    are None mean "not traded within a year"; False: its hold time is unknown (its buys
    may not be imported yet) and it is not sold."""

    symbol: str
    quantity: float
    avg_price: float
    days_since_first_buy: float | None = None
    days_since_last_buy: float | None = None
    days_since_last_sell: float | None = None
    trade_history_known: bool = True


# The settings PlannerSettings.from_settings reads (declared in config/keys_trading.py
# and keys_planner.py; tests/test_settings_values.py checks every name) and the field
# each one sets.
SETTING_FIELDS: Mapping[str, str] = MappingProxyType({
    "transaction_cost_fixed": "transaction_cost_fixed",
    "transaction_cost_percent": "transaction_cost_percent",
    "min_cash_reserve": "min_cash_reserve", "min_security_score": "min_security_score",
    "target_annual_return": "target_annual_return", "market_avg_pe": "market_avg_pe",
    "risk_free_rate": "risk_free_rate", "optimizer_blend": "optimizer_blend",
    "optimizer_target_return": "optimizer_target_return",
    "market_regime_detection_enabled": "market_regime_detection_enabled",
    "buy_cooldown_days": "buy_cooldown_days",
    "sell_cooldown_days": "sell_cooldown_days", "min_hold_days": "min_hold_days",
    "max_loss_threshold": "max_loss_threshold", "max_plan_depth": "max_plan_depth",
    "max_opportunities_per_category": "max_opportunities_per_category",
    "priority_threshold_for_combinations": "priority_threshold",
    "planner_combination_pool": "combination_pool_per_side",
    "planner_max_sequences": "max_sequences", "beam_width": "beam_width",
    "monte_carlo_path_count": "monte_carlo_paths",
    "monte_carlo_horizon_days": "monte_carlo_horizon_days",
    "monte_carlo_seed": "monte_carlo_seed",
    "cost_penalty_factor": "cost_penalty_factor",
    "planner_min_score_improvement": "min_score_improvement",
    "enable_diverse_selection": "enable_diverse_selection",
    "diversity_weight": "diversity_weight",
    "enable_diversity_filter": "enable_diversity_filter",
    "enable_correlation_aware": "enable_correlation_aware",
    "correlation_threshold": "correlation_threshold",
    "enable_market_regime_scenarios": "enable_market_regime_scenarios",
    "enable_quality_gates": "enable_quality_gates",
    "quality_gate_min_quality": "quality_gate_min_quality",
    "enable_forward_adjustment": "enable_forward_adjustment",
    "max_position_fraction": "max_position_fraction",
    "position_cap_universe_multiple": "position_cap_universe_multiple",
    "limit_order_buffer_percent": "limit_order_buffer",
    "position_trim_band": "position_trim_band",
    "deploy_enabled": "deploy_enabled",
    "deploy_tolerance_eur": "deploy_tolerance_eur",
    "deploy_tolerance_fraction": "deploy_tolerance_fraction",
    "deploy_min_trade_eur": "deploy_min_trade_eur",
    "deploy_optimizer_blend": "deploy_optimizer_blend",
    "rebuy_cooldown_days": "rebuy_cooldown_days",
    "max_buy_vs_52w_high": "max_buy_vs_52w_high",
    "thesis_break_drop": "thesis_break_drop",
    "thesis_break_max_score": "thesis_break_max_score",
})


@dataclass(frozen=True)
class PlannerSettings:
    """Every knob of a planning run (defaults = the settings' defaults)."""

    transaction_cost_fixed: float = 2.0
    transaction_cost_percent: float = 0.002
    min_cash_reserve: float = 500.0
    min_security_score: float = 0.5
    target_annual_return: float = 0.11
    market_avg_pe: float = 22.0
    risk_free_rate: float = 0.0
    optimizer_blend: float = 0.5
    optimizer_target_return: float = 0.11
    use_optimizer: bool = True
    market_regime_detection_enabled: bool = True
    regime_cash_reserve: Mapping[str, float] = field(
        default_factory=lambda: {"bull": 0.02, "sideways": 0.03, "bear": 0.05})
    regime_cuts: RegimeCuts = DEFAULT_CUTS
    buy_cooldown_days: float = 30
    sell_cooldown_days: float = 180
    min_hold_days: float = 90
    max_loss_threshold: float = -0.20
    max_plan_depth: int = 5
    max_opportunities_per_category: int = 5
    priority_threshold: float = 0.3
    combination_pool_per_side: int = 10
    max_sequences: int = 4000
    beam_width: int = 10
    beam_min_improvement: float = 1e-4
    monte_carlo_paths: int = 100
    monte_carlo_horizon_days: int = 63
    monte_carlo_seed: int = 20240601
    cost_penalty_factor: float = 10.0
    min_score_improvement: float = 0.002
    decision_candidates: int = 32
    enable_diverse_selection: bool = True
    diversity_weight: float = 0.3
    enable_diversity_filter: bool = True
    enable_correlation_aware: bool = True
    correlation_threshold: float = 0.7
    enable_market_regime_scenarios: bool = True
    enable_quality_gates: bool = True
    quality_gate_min_quality: float = 0.4
    enable_forward_adjustment: bool = True
    max_position_fraction: float = 0.15  # the cap's floor (domain/position_limits.py)
    position_cap_universe_multiple: float = 2.0  # cap = max(floor, multiple / N)
    limit_order_buffer: float = 0.01  # the executor's limit price: quote × (1 + this)
    position_trim_band: float = 0.05
    deploy_enabled: bool = True
    deploy_tolerance_eur: float = 250.0
    deploy_tolerance_fraction: float = 0.01
    deploy_min_trade_eur: float = 500.0
    deploy_optimizer_blend: float = 0.0
    rebuy_cooldown_days: float = 30
    max_buy_vs_52w_high: float = 0.95  # 1: the guardrail is off
    thesis_break_drop: float = 0.5
    thesis_break_max_score: float = 0.5
    min_trade_eur: float = 400.0
    """The minimum worthwhile trade (``CostModel.min_trade_eur`` of the costs above and
    the ``min_trade_value`` floor): what every planned trade is sized from."""

    def idle_cash_tolerance(self, total_eur: float) -> float:
        """Cash above the reserve that may stay idle (EUR): the largest of
        ``deploy_tolerance_eur``, ``deploy_tolerance_fraction`` of the portfolio and
        ``deploy_min_trade_eur`` (no deployment buys less than its minimum)."""
        return max(self.deploy_tolerance_eur, self.deploy_tolerance_fraction * total_eur,
                   self.deploy_min_trade_eur)

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> PlannerSettings:
        """Build from the daemon's settings mapping (keys_trading + keys_planner); absent
        keys keep their defaults."""
        kwargs: dict[str, Any] = {}
        defaults = cls()
        for key, attr in SETTING_FIELDS.items():
            if key in settings:
                kind = type(getattr(defaults, attr))
                kwargs[attr] = kind(settings[key])
        reserve = {label: float(settings[key]) for label, key in (
            ("bull", "market_regime_bull_cash_reserve"),
            ("sideways", "market_regime_sideways_cash_reserve"),
            ("bear", "market_regime_bear_cash_reserve")) if key in settings}
        if reserve:
            kwargs["regime_cash_reserve"] = {**defaults.regime_cash_reserve, **reserve}
        costs = CostModel(Decimal(str(kwargs.get("transaction_cost_fixed",
                                                 defaults.transaction_cost_fixed))),
                          Decimal(str(kwargs.get("transaction_cost_percent",
                                                 defaults.transaction_cost_percent))))
        floor = settings.get("min_trade_value", defaults.min_trade_eur)
        kwargs["min_trade_eur"] = float(costs.min_trade_eur(Decimal(str(floor))))
        kwargs["regime_cuts"] = RegimeCuts(
            float(settings.get("market_regime_bull_threshold", defaults.regime_cuts.bull)),
            float(settings.get("market_regime_bear_threshold", defaults.regime_cuts.bear)))
        return cls(**kwargs)


@dataclass(frozen=True)
class MarketIndicators:
    """Forward-looking market figures for the optimiser's forward adjustment (``None`` = unknown):
    the VIX level, the yield-curve slope as a fraction (10-year minus short rate, 0.01 =
    one percentage point) and the market's current P/E."""

    vix: float | None = None
    yield_curve_slope: float | None = None
    market_pe: float | None = None

    @classmethod
    def from_last_closes(cls, closes: Mapping[str, float | None],
                         market_pe: float | None = None) -> MarketIndicators:
        """From the last closes of :data:`FORWARD_SYMBOLS` (Yahoo symbols: ``^VIX``; the
        10-year ``^TNX`` and 13-week ``^IRX`` yields in percent); missing or non-positive
        closes stay unknown."""
        def ok(symbol: str) -> float | None:
            x = closes.get(symbol)
            return float(x) if x is not None and math.isfinite(x) and x > 0 else None

        slope = yield_curve_slope(ok(LONG_RATE_SYMBOL), ok(SHORT_RATE_SYMBOL))
        return cls(ok(VIX_SYMBOL), slope, market_pe)


VIX_SYMBOL = "^VIX"
LONG_RATE_SYMBOL = "^TNX"
SHORT_RATE_SYMBOL = "^IRX"
FORWARD_SYMBOLS = (VIX_SYMBOL, LONG_RATE_SYMBOL, SHORT_RATE_SYMBOL)


@dataclass(frozen=True)
class PlanInput:
    """Everything one planning run needs, as plain values.

    ``prices[i, t]``: daily closes of ``securities[i]`` in its own currency, oldest first
    (NaN where unknown). Targets are group → fraction of the invested value.
    """

    securities: Sequence[SecurityInfo]
    prices: npt.NDArray[np.float64]
    holdings: Sequence[Holding]
    cash_eur: float
    country_to_group: Mapping[str, str] = field(default_factory=dict)
    country_targets: Mapping[str, float] = field(default_factory=dict)
    industry_targets: Mapping[str, float] = field(default_factory=dict)
    regime_score: float = 0.0
    days_since_last_buy: Mapping[str, float] = field(default_factory=dict)
    days_since_last_sell: Mapping[str, float] = field(default_factory=dict)
    settings: PlannerSettings = field(default_factory=PlannerSettings)
    market: MarketIndicators = field(default_factory=MarketIndicators)


@dataclass(frozen=True)
class Candidate:
    """One possible trade (an action candidate); priority in [0, 1]; values in EUR."""

    index: int
    symbol: str
    side: Side
    quantity: int
    price: float
    price_eur: float
    currency: str
    category: Category
    priority: float
    reason: str
    windfall_value: float
    technical_value: float

    @property
    def value_eur(self) -> float:
        """Gross trade value in EUR (costs are separate)."""
        return self.quantity * self.price_eur


@dataclass(frozen=True)
class Step:
    """One recommended trade with everything needed to explain it."""

    step: int
    side: Side
    symbol: str
    name: str
    quantity: int
    estimated_price: float
    currency: str
    estimated_value_eur: float
    cost_eur: float
    category: str
    priority: float
    reason: str
    score_before: float
    score_after: float
    security_score: float
    security_breakdown: Mapping[str, Any]


@dataclass(frozen=True)
class PlanResult:
    """The planner's answer: a plan with steps, or nothing to do and why."""

    status: Literal["plan", "nothing_to_do"]
    reason: str
    steps: tuple[Step, ...] = ()
    current_score: float = 0.0
    end_state_score: float = 0.0
    robust_score: float = 0.0
    baseline_robust_score: float = 0.0
    end_state_gain: float = 0.0
    components_before: Mapping[str, float] = field(default_factory=dict)
    components_after: Mapping[str, float] = field(default_factory=dict)
    evaluated_count: int = 0
    beam_evaluated: int = 0
    monte_carlo_paths: int = 0
    regime: str = "sideways"
    cash_reserve_eur: float = 0.0
    target_weights: Mapping[str, float] = field(default_factory=dict)
    optimizer_fallback: str | None = None
    optimizer_error: str | None = None  # the optimiser failed: no targets, this reason
    achieved_return: float | None = None  # expected return of the targets (Σ w·μ)
    expected_returns: Mapping[str, float] = field(default_factory=dict)  # μ per symbol
    warnings: tuple[str, ...] = ()
    timings_ms: Mapping[str, float] = field(default_factory=dict)
    security_scores: tuple[SecurityScore, ...] = ()  # every scored security (stored in ``scores``)
    refused_buys: Mapping[str, str] = field(default_factory=dict)  # optimiser buys refused
    forward_adjustment: float = 0.0
    generation: Mapping[str, int] = field(default_factory=dict)  # sequence counts by origin


    @property
    def improvement(self) -> float:
        """Robust end-state gain of the plan over doing nothing, net of the cost penalty."""
        return self.end_state_gain

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (API and storage)."""
        return {
            "status": self.status, "reason": self.reason,
            "steps": [s.__dict__ | {"security_breakdown": dict(s.security_breakdown)}
                      for s in self.steps],
            "current_score": self.current_score, "end_state_score": self.end_state_score,
            "robust_score": self.robust_score,
            "baseline_robust_score": self.baseline_robust_score,
            "improvement": self.improvement,
            "components_before": dict(self.components_before),
            "components_after": dict(self.components_after),
            "evaluated_count": self.evaluated_count, "beam_evaluated": self.beam_evaluated,
            "monte_carlo_paths": self.monte_carlo_paths, "regime": self.regime,
            "cash_reserve_eur": self.cash_reserve_eur,
            "target_weights": dict(self.target_weights),
            "optimizer_fallback": self.optimizer_fallback,
            "optimizer_error": self.optimizer_error, "achieved_return": self.achieved_return,
            "expected_returns": dict(self.expected_returns),
            "warnings": list(self.warnings),
            "timings_ms": dict(self.timings_ms),
            "refused_buys": dict(self.refused_buys),
            "forward_adjustment": self.forward_adjustment,
            "generation": dict(self.generation),
        }
