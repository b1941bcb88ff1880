"""Settings of the planner actor: when it plans, and autonomous execution of plans."""

from __future__ import annotations

from .spec import SettingSpec

_J = "scheduling"
_P = "planner"

KEYS: tuple[SettingSpec, ...] = (
    SettingSpec("job_planner_minutes", "int", 15, "Interval of the planner job (a plan is "
                "also made after each price sync and on demand)", unit="min", minimum=1,
                maximum=1440, group=_J),
    SettingSpec("job_autonomous_execution_minutes", "int", 15, "Interval of the "
                "autonomous_execution job (step 1 of the stored plan → executor)",
                unit="min", minimum=1, maximum=1440, group=_J),
    SettingSpec("job_autonomous_execution_enabled", "bool", True, "Run the scheduled "
                "autonomous_execution job (orders still pass every safety layer; in research "
                "mode they go to the paper broker)", group=_J),
    SettingSpec("planner_debounce_seconds", "int", 60, "After a price update, wait this long "
                "for more updates before planning", unit="s", minimum=0, maximum=3600,
                group=_P),
    SettingSpec("planner_plan_budget_s", "int", 300, "A plan's scoring, optimising and "
                "sequence search may take this long; past it the plan is cancelled and "
                "reported (health sees a planner busy within its budget as alive)",
                unit="s", minimum=5, maximum=3600, group=_P),
    SettingSpec("planner_price_wait_s", "int", 900, "While a held security has no price "
                "yet (its history not stored) or no imported trade history (hold time "
                "unknown), positions or cash are in a currency without an FX rate, or the "
                "universe is still empty, planning waits and re-tries every "
                "planner_debounce_seconds (at least 1 s) for at most this long, then plans "
                "without what is missing (never selling a holding of unknown hold time)",
                unit="s", minimum=0, maximum=86400, group=_P),
    SettingSpec("planner_history_days", "int", 1260, "Daily closes per security the planner "
                "reads (about 5 years of trading days)", unit="days", minimum=60,
                maximum=5000, group=_P),
)
