"""Settings of the portfolio rules (domain/planner/rules.py) and the position cap shared by
the planner and the executor's guardrail (domain/position_limits.py). Defaults were chosen
on the earlier walk-forward windows of ``benchmarks/decision_quality.py`` (docs/strategy.md).
"""

from __future__ import annotations

from .spec import SettingSpec

_S = "strategy"

KEYS: tuple[SettingSpec, ...] = (
    SettingSpec("max_position_fraction", "float", 0.15, "Floor of the position cap: no buy "
                "takes a position above max(this, position_cap_universe_multiple / N) of the "
                "portfolio (planner and executor guardrail)", unit="fraction", minimum=0.01,
                maximum=1, group=_S),
    SettingSpec("position_cap_universe_multiple", "float", 2.0, "The position cap scales "
                "with the universe: at least this multiple of equal weight (1/N)",
                minimum=0, maximum=10, group=_S),
    SettingSpec("position_trim_band", "float", 0.05, "A position above the cap plus this "
                "band is sold back to the cap", unit="fraction", minimum=0, maximum=1,
                group=_S),
    SettingSpec("deploy_enabled", "bool", True, "Invest cash above the reserve plus the "
                "tolerance when the searched plan does not", group=_S),
    SettingSpec("deploy_tolerance_eur", "float", 250.0, "Cash above the reserve left idle "
                "at most (EUR; the larger of this and the fraction)", unit="EUR", minimum=0,
                maximum=1_000_000, group=_S),
    SettingSpec("deploy_tolerance_fraction", "float", 0.01, "Cash above the reserve left "
                "idle at most, as a fraction of the portfolio", unit="fraction", minimum=0,
                maximum=0.5, group=_S),
    SettingSpec("deploy_min_trade_eur", "float", 500.0, "Smallest deployment buy (fixed "
                "fees weigh on smaller ones)", unit="EUR", minimum=0, maximum=1_000_000,
                group=_S),
    SettingSpec("deploy_optimizer_blend", "float", 0.0, "Deployment target: equal weight "
                "blended with the optimiser's target by this share (0: equal weight)",
                unit="fraction", minimum=0, maximum=1, group=_S),
    SettingSpec("max_buy_vs_52w_high", "float", 0.95, "No buy while the price is above this "
                "fraction of its 52-week high (planner and executor guardrail; 1 turns it "
                "off)", unit="fraction", minimum=0.5, maximum=1, group=_S),
    SettingSpec("rebuy_cooldown_days", "int", 30, "No buy of a security within this many "
                "days after selling it (planner and executor)", unit="days", minimum=0,
                maximum=365, group=_S),
    SettingSpec("thesis_break_drop", "float", 0.5, "Thesis break: price this far below its "
                "52-week high or average cost ...", unit="fraction", minimum=0.05,
                maximum=0.99, group=_S),
    SettingSpec("thesis_break_max_score", "float", 0.5, "... and score below this and "
                "the universe's median score: the whole position is sold, at a loss and "
                "last lot included", minimum=0,
                maximum=1, group=_S),
)
