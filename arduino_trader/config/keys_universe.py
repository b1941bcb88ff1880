"""Universe maintenance: the monthly pruning of securities that stopped qualifying."""

from __future__ import annotations

from .spec import SettingSpec

KEYS: tuple[SettingSpec, ...] = (
    SettingSpec("universe_pruning_enabled", "bool", True, "Run the universe_pruning job on "
                "the 1st of each month (at job_maintenance_hour)", group="universe"),
    SettingSpec("universe_pruning_score_threshold", "float", 0.5, "A security whose mean "
                "score over the window stays below this is deactivated (flagged when held)",
                minimum=0.0, maximum=1.0, group="universe"),
    SettingSpec("universe_pruning_months", "int", 3, "Window of the mean score",
                unit="months", minimum=1, maximum=24, group="universe"),
    SettingSpec("universe_pruning_min_samples", "int", 2, "Score samples (days with a "
                "score) the window needs before a low mean prunes", minimum=1,
                maximum=1000, group="universe"),
    SettingSpec("universe_pruning_check_delisted", "bool", True, "Also deactivate securities "
                "that look delisted (no price for universe_pruning_delisted_days)",
                group="universe"),
    SettingSpec("universe_pruning_delisted_days", "int", 90, "No price for this many days "
                "counts as delisted (from the last price, or from when it was added)",
                unit="days", minimum=7, maximum=3650, group="universe"),
)
