"""Settings of the holistic planner not already in keys_trading."""

from __future__ import annotations

from .spec import SettingSpec

_P = "planner"

KEYS: tuple[SettingSpec, ...] = (
    SettingSpec("max_plan_depth", "int", 5, "Actions per planned sequence at most",
                minimum=1, maximum=5, group=_P),
    SettingSpec("max_opportunities_per_category", "int", 5, "Candidates kept per opportunity "
                "category", minimum=1, maximum=20, group=_P),
    SettingSpec("priority_threshold_for_combinations", "float", 0.3, "Candidates and "
                "combinations below this mean priority are dropped", minimum=0, maximum=1,
                group=_P),
    SettingSpec("planner_combination_pool", "int", 10, "Top candidates per side the "
                "combinatorial generator enumerates", minimum=1, maximum=12, group=_P),
    SettingSpec("planner_max_sequences", "int", 4000, "Combinatorial sequences evaluated per "
                "plan at most", minimum=10, maximum=10_000, group=_P),
    SettingSpec("beam_width", "int", 10, "Partial sequences kept per beam-search level",
                minimum=1, maximum=50, group=_P),
    SettingSpec("monte_carlo_path_count", "int", 100, "Monte-Carlo scenarios per plan",
                minimum=10, maximum=500, group=_P),
    SettingSpec("monte_carlo_horizon_days", "int", 63, "Monte-Carlo horizon",
                unit="trading days", minimum=1, maximum=252, group=_P),
    SettingSpec("monte_carlo_seed", "int", 20240601, "Seed of the Monte-Carlo scenarios "
                "(fixed: the same inputs give the same plan)", minimum=0,
                maximum=2**31 - 1, group=_P),
    SettingSpec("cost_penalty_factor", "float", 10.0, "End-state score lost per unit of "
                "(transaction cost / portfolio value)", minimum=0, maximum=100, group=_P),
    SettingSpec("planner_min_score_improvement", "float", 0.002, "Robust end-state gain "
                "(net of costs) a plan needs; below it the planner does nothing",
                minimum=0, maximum=0.5, group=_P),
    SettingSpec("enable_diverse_selection", "bool", True, "Pick each category's candidates "
                "across country/industry clusters instead of by priority alone", group=_P),
    SettingSpec("diversity_weight", "float", 0.3, "Weight of diversity against priority in "
                "candidate selection and the sequence diversity filter", minimum=0,
                maximum=1, group=_P),
    SettingSpec("enable_diversity_filter", "bool", True, "Rank combinatorial sequences by "
                "priority and diversity (symbols, countries, tags) before the cap",
                group=_P),
    SettingSpec("enable_correlation_aware", "bool", True, "Drop sequences that buy two "
                "highly correlated securities", group=_P),
    SettingSpec("correlation_threshold", "float", 0.7, "|correlation| of 252 daily returns "
                "above which two buys in one sequence are refused", minimum=0, maximum=1,
                group=_P),
    SettingSpec("enable_market_regime_scenarios", "bool", True, "Generate the pattern of the "
                "current market regime (bull / sideways / bear)", group=_P),
    SettingSpec("enable_quality_gates", "bool", True, "Refuse optimiser-driven buys of weak "
                "quality, value traps and bubble risks (with the reason)", group=_P),
    SettingSpec("quality_gate_min_quality", "float", 0.4, "Quality (mean of the long-term and "
                "fundamentals scores) an optimiser-driven buy needs", minimum=0, maximum=1,
                group=_P),
    SettingSpec("enable_forward_adjustment", "bool", True, "Adjust expected returns by VIX, "
                "yield-curve slope and market P/E when they are known", group=_P),
)
