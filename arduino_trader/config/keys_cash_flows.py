"""Settings of the cash-flow area: sync, DRIP and emergency-check
schedules."""

from __future__ import annotations

from .spec import SettingSpec

_J = "scheduling"
_C = "cash_flows"

KEYS: tuple[SettingSpec, ...] = (
    SettingSpec("job_cash_flow_sync_minutes", "int", 10, "Interval of the cash-flow sync "
                "(deposits, withdrawals, dividends, fees from every broker source)",
                unit="min", minimum=1, maximum=1440, group=_J),
    SettingSpec("job_dividend_reinvestment_hour", "int", 10, "Hour (UTC) of the daily "
                "dividend reinvestment (runs at :30, after the morning cash-flow sync)",
                minimum=0, maximum=23, group=_J),
    SettingSpec("job_emergency_rebalance_minutes", "int", 5, "Interval of the negative/thin "
                "cash check and emergency rebalancing", unit="min", minimum=1,
                maximum=1440, group=_J),
    SettingSpec("job_concentration_check_minutes", "int", 60, "Interval of the country, "
                "sector and position concentration check", unit="min", minimum=5,
                maximum=1440, group=_J),
    SettingSpec("cash_flow_history_days", "int", 365, "How far back each sync asks the "
                "broker for client requests and trades", unit="days", minimum=1,
                maximum=3650, group=_C),
)
