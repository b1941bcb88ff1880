"""Settings of trading, safety, costs, broker credentials, scoring, optimiser, regime,
rebalancing triggers and scheduling. Only keys some behaviour reads are declared
(tests/test_config.py checks it); a removed key in a config file is refused at start-up."""

from __future__ import annotations

from .spec import SettingSpec

_T = "trading"
_C = "credentials"
_S = "scoring"
_J = "scheduling"

KEYS: tuple[SettingSpec, ...] = (
    # Trading / safety / costs
    SettingSpec("trading_mode", "str", "research", "live sends real orders; research records "
                "what it would do. Change it with POST /api/settings/trading-mode",
                choices=("research", "live"), group=_T),
    SettingSpec("buy_cooldown_days", "int", 30, "No repeat BUY of a security within",
                unit="days", minimum=0, maximum=365, group=_T),
    SettingSpec("sell_cooldown_days", "int", 180, "No repeat SELL of a security within",
                unit="days", minimum=0, maximum=3650, group=_T),
    SettingSpec("min_hold_days", "int", 90, "Minimum days since the last trade before a SELL",
                unit="days", minimum=0, maximum=3650, group=_T),
    SettingSpec("max_loss_threshold", "float", -0.20, "Sells below this loss are not proposed",
                unit="fraction", minimum=-1.0, maximum=0.0, group=_T),
    SettingSpec("max_price_age_hours", "int", 48, "Older price data is stale for planning",
                unit="h", minimum=1, maximum=168, group=_T),
    SettingSpec("transaction_cost_fixed", "decimal", "2.00", "Fixed cost per trade",
                unit="EUR", minimum=0, maximum=50, group=_T),
    SettingSpec("transaction_cost_percent", "float", 0.002, "Variable cost as a fraction of "
                "the trade value", unit="fraction", minimum=0, maximum=0.05, group=_T),
    SettingSpec("min_trade_value", "decimal", "400", "Flat floor of the minimum "
                "worthwhile trade (the larger of it and the value whose costs are 1 %)",
                unit="EUR", minimum=0, maximum=100000, group=_T),
    SettingSpec("limit_order_buffer_percent", "float", 0.01, "Marketable limit: BUY at "
                "ask×(1+x), SELL at bid×(1−x)", unit="fraction", minimum=0.001,
                maximum=0.10, group=_T),
    SettingSpec("trade_frequency_limits_enabled", "bool", True, "Enforce the frequency limits",
                group=_T),
    SettingSpec("min_time_between_trades_minutes", "int", 60, "Minimum gap between trades",
                unit="min", minimum=0, maximum=1440, group=_T),
    SettingSpec("max_trades_per_day", "int", 4, "Trades per day at most", minimum=1,
                maximum=50, group=_T),
    SettingSpec("max_trades_per_week", "int", 10, "Trades per week at most", minimum=1,
                maximum=200, group=_T),
    SettingSpec("min_cash_reserve", "decimal", "500", "Cash never invested", unit="EUR",
                minimum=0, maximum=10_000_000, group=_T),
    SettingSpec("virtual_test_cash", "decimal", "0", "Extra planner cash in research mode; "
                "reset to 0 when switching to live", unit="EUR", minimum=0,
                maximum=10_000_000, group=_T),
    # Credentials
    SettingSpec("tradernet_api_key", "str", "", "Tradernet public API key", secret=True,
                group=_C),
    SettingSpec("tradernet_api_secret", "str", "", "Tradernet private API key", secret=True,
                group=_C),
    # Scoring / optimiser / regime
    SettingSpec("min_security_score", "float", 0.5, "Buys need at least this score",
                minimum=0, maximum=1, group=_S),
    SettingSpec("target_annual_return", "float", 0.11, "Target annual return",
                unit="fraction", minimum=0, maximum=1, group=_S),
    SettingSpec("market_avg_pe", "float", 22.0, "Market average P/E for valuation",
                minimum=1, maximum=200, group=_S),
    SettingSpec("risk_free_rate", "float", 0.0, "Risk-free rate for Sharpe/Sortino",
                unit="fraction", minimum=0, maximum=0.2, group=_S),
    SettingSpec("optimizer_blend", "float", 0.5, "0 = mean-variance, 1 = HRP",
                minimum=0, maximum=1, group=_S),
    SettingSpec("optimizer_target_return", "float", 0.11, "Optimiser target return",
                unit="fraction", minimum=0, maximum=1, group=_S),
    SettingSpec("target_return_threshold_pct", "float", 0.80, "Share of the target return "
                "that counts as reached", minimum=0, maximum=1, group=_S),
    SettingSpec("market_regime_detection_enabled", "bool", True, "Detect the market regime",
                group=_S),
    SettingSpec("market_regime_bull_cash_reserve", "float", 0.02, "Cash reserve share in a "
                "bull market (reserve = max(share × portfolio, min_cash_reserve))",
                unit="fraction", minimum=0.01, maximum=0.40, group=_S),
    SettingSpec("market_regime_bear_cash_reserve", "float", 0.05, "Cash reserve share in a "
                "bear market", unit="fraction", minimum=0.01, maximum=0.40, group=_S),
    SettingSpec("market_regime_sideways_cash_reserve", "float", 0.03, "Cash reserve share in "
                "a sideways market", unit="fraction", minimum=0.01, maximum=0.40, group=_S),
    SettingSpec("market_regime_bull_threshold", "float", 0.3, "Regime score (−1..1) above "
                "which the market is bull (cash reserve, planner weights and patterns)",
                minimum=0.05, maximum=0.95, group=_S),
    SettingSpec("market_regime_bear_threshold", "float", -0.3, "Regime score (−1..1) below "
                "which the market is bear", minimum=-0.95, maximum=-0.05, group=_S),
    # Rebalancing triggers
    SettingSpec("event_driven_rebalancing_enabled", "bool", True, "Rebalance on drift or cash",
                group="rebalancing"),
    SettingSpec("rebalance_position_drift_threshold", "float", 0.05, "Drift that triggers a "
                "rebalance", unit="fraction", minimum=0.001, maximum=1, group="rebalancing"),
    SettingSpec("rebalance_cash_threshold_multiplier", "float", 2.0, "Cash above multiplier × "
                "minimum trade triggers a plan", minimum=0.1, maximum=100, group="rebalancing"),
    # Scheduling
    SettingSpec("job_sync_cycle_minutes", "int", 5, "Sync cycle interval", unit="min",
                minimum=1, maximum=60, group=_J),
    SettingSpec("job_maintenance_hour", "int", 3, "Hour (UTC) of daily maintenance and backup",
                minimum=0, maximum=23, group=_J),
)
