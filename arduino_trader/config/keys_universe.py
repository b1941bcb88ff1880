"""Universe maintenance: the monthly pruning of securities that stopped qualifying, and
the monthly discovery of new ones."""

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
DISCOVERY_KEYS: tuple[SettingSpec, ...] = (
    SettingSpec("security_discovery_enabled", "bool", True, "Run the security_discovery job "
                "on the 15th of each month (at job_security_discovery_hour)", group="universe"),
    SettingSpec("job_security_discovery_hour", "int", 2, "Hour (UTC) of the monthly "
                "discovery run (a change reschedules it)", unit="hour", minimum=0,
                maximum=23, group="universe"),
    SettingSpec("security_discovery_score_threshold", "float", 0.75, "A candidate joins (or "
                "is proposed) only with a score at or above this", minimum=0.0, maximum=1.0,
                group="universe"),
    SettingSpec("security_discovery_max_per_month", "int", 2, "Candidates added or proposed "
                "per calendar month, at most", minimum=0, maximum=50, group="universe"),
    SettingSpec("security_discovery_require_manual_review", "bool", True, "Candidates wait "
                "in the pending list for the owner's approve / reject instead of joining",
                group="universe"),
    SettingSpec("security_discovery_geographies", "str", "EU,US,ASIA", "Regions of the "
                "issuer's country a candidate may come from (comma list of EU, US, ASIA, "
                "OTHER)", group="universe"),
    SettingSpec("security_discovery_exchanges", "str", "usa,europe", "Broker exchanges "
                "screened and listed on (comma list of usa, europe, kazakhstan, ukraine)",
                group="universe"),
    SettingSpec("security_discovery_min_volume", "int", 1_000_000, "Mean daily traded "
                "volume (shares, last 20 sessions) a candidate needs", unit="shares",
                minimum=0, maximum=10**12, group="universe"),
    SettingSpec("security_discovery_fetch_limit", "int", 50, "Tickers asked of each screen "
                "(per exchange and list), and candidates scored per run at most",
                minimum=1, maximum=500, group="universe"),
)
