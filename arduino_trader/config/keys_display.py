"""The board's LED matrix: what GET /api/system/led/display tells the sketch to show."""

from __future__ import annotations

from .spec import SettingSpec

KEYS: tuple[SettingSpec, ...] = (
    SettingSpec("display_mode", "str", "STATS", "LED matrix mode: STATS (portfolio value "
                "per day), TICKER (scrolling text), PORTFOLIO (largest holdings as clusters)",
                choices=("STATS", "TICKER", "PORTFOLIO"), group="display"),
    SettingSpec("led_brightness", "int", 150, "LED brightness sent to the board",
                minimum=0, maximum=255, group="display"),
    SettingSpec("ticker_speed", "int", 50, "Time per ticker scroll step sent to the board",
                unit="ms", minimum=1, maximum=1000, group="display"),
    SettingSpec("ticker_show_value", "bool", True, "Ticker shows the portfolio value",
                group="display"),
    SettingSpec("ticker_show_cash", "bool", True, "Ticker shows the cash", group="display"),
    SettingSpec("ticker_show_actions", "bool", True, "Ticker shows the pending "
                "recommendations", group="display"),
    SettingSpec("ticker_show_amounts", "bool", True, "Ticker shows each recommendation's "
                "EUR value", group="display"),
    SettingSpec("ticker_max_actions", "int", 3, "Recommendations on the ticker at most",
                minimum=0, maximum=20, group="display"),
    SettingSpec("display_top_holdings_count", "int", 5, "PORTFOLIO mode: holdings shown",
                minimum=1, maximum=50, group="display"),
    SettingSpec("display_min_cluster_size", "int", 5, "PORTFOLIO mode: pixels of the "
                "smallest holding at least", minimum=1, maximum=100, group="display"),
)
