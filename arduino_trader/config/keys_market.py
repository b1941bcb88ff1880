"""Settings of market data and the universe: source, cache TTLs, Yahoo throttling, history
depth, validation, and the market-data jobs' schedules.
``max_price_age_hours`` (staleness) lives in keys_trading."""

from __future__ import annotations

from .spec import SettingSpec

_M = "market_data"
_J = "scheduling"

KEYS: tuple[SettingSpec, ...] = (
    SettingSpec("market_data.source", "str", "replay", "Price source: the bundled real-data "
                "replay (offline demo universe) or Yahoo Finance via yfinance",
                choices=("replay", "yfinance"), runtime=False, group=_M),
    SettingSpec("market_data.replay_prices_file", "str", "", "Daily-close CSV(.gz) served by "
                "the replay source; empty = the bundled 20-stock set", runtime=False, group=_M),
    SettingSpec("market_data.replay_fx_rates", "str", "USD=0.92", "Replay only: EUR value of "
                "one unit per currency, e.g. USD=0.92,GBP=1.17 (the replay has no FX feed; "
                "a currency missing here is an error, never 1:1)", runtime=False, group=_M),
    SettingSpec("market_data.quote_ttl_s", "int", 300, "A scheduled price sync skips quotes "
                "younger than this (manual triggers always refresh)", unit="s", minimum=5,
                maximum=86_400, group=_M),
    SettingSpec("market_data.fundamentals_ttl_hours", "int", 720, "Fundamentals cache "
                "(30 days)", unit="h", minimum=1, maximum=8760, group=_M),
    SettingSpec("market_data.analyst_ttl_hours", "int", 24, "Analyst data cache", unit="h",
                minimum=1, maximum=8760, group=_M),
    SettingSpec("market_data.fx_ttl_minutes", "int", 60, "FX rates are cached at most this "
                "long", unit="min", minimum=1, maximum=1440, group=_M),
    SettingSpec("market_data.fx_max_age_days", "int", 4, "An FX rate older than this is "
                "used nowhere (current or dated lookups); what needs it waits", unit="days",
                minimum=0, maximum=30, group=_M),
    SettingSpec("market_data.history_seed_years", "int", 10, "History read for a new "
                "security", unit="years", minimum=1, maximum=40, group=_M),
    SettingSpec("market_data.history_topup_years", "int", 1, "History re-read on top-ups",
                unit="years", minimum=1, maximum=10, group=_M),
    SettingSpec("market_data.resync_hours", "int", 24, "A security's data is refreshed when "
                "older than this", unit="h", minimum=1, maximum=720, group=_M),
    SettingSpec("market_data.max_gap_days", "int", 10, "Calendar days between bars reported "
                "as a gap", unit="days", minimum=3, maximum=365, group=_M),
    SettingSpec("market_data.yahoo_min_interval_s", "float", 0.5, "Minimum time between two "
                "Yahoo requests (throttle)", unit="s", minimum=0.0, maximum=60.0, group=_M),
    SettingSpec("market_data.yahoo_timeout_s", "int", 20, "Timeout of one Yahoo request",
                unit="s", minimum=1, maximum=300, group=_M),
    SettingSpec("market_data.yahoo_retries", "int", 3, "Retries of a failed Yahoo call "
                "(1 s doubling)", minimum=0, maximum=10, group=_M),
    SettingSpec("market_data.calendar_warn_days", "int", 60, "Health degrades when a "
                "calendar of a held exchange ends within this", unit="days", minimum=1,
                maximum=730, group=_M),
    SettingSpec("job_sync_prices_minutes", "int", 5, "Interval of the price sync job",
                unit="min", minimum=1, maximum=1440, group=_J),
    SettingSpec("job_securities_data_minutes", "int", 60, "Interval of the securities data "
                "sync (history, classification of due securities)", unit="min", minimum=5,
                maximum=1440, group=_J),
    SettingSpec("job_historical_sync_minutes", "int", 1440, "Interval of the full history "
                "top-up", unit="min", minimum=60, maximum=10_080, group=_J),
    SettingSpec("job_fx_sync_minutes", "int", 60, "Interval of the FX rate sync",
                unit="min", minimum=5, maximum=1440, group=_J),
)
