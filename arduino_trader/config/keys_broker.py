"""Settings of the broker adapters (Tradernet client, paper broker) and the broker probe.

``broker.kind`` and ``broker.base_url`` are declared in keys_daemon; the API keys
(``tradernet_api_key`` / ``tradernet_api_secret``) and the trading costs the paper broker
charges (``transaction_cost_fixed`` / ``transaction_cost_percent``) in keys_trading.
"""

from __future__ import annotations

from .spec import SettingSpec

_B = "broker"

KEYS: tuple[SettingSpec, ...] = (
    SettingSpec("broker.timeout_s", "float", 15.0, "Timeout of one Tradernet read request",
                unit="s", minimum=1, maximum=120, runtime=False, group=_B),
    SettingSpec("broker.order_timeout_s", "float", 20.0, "Timeout of an order placement "
                "(after it, the order is looked up by its client id)", unit="s", minimum=1,
                maximum=120, runtime=False, group=_B),
    SettingSpec("broker.order_lookup_delay_s", "float", 2.0, "After a placement's answer is "
                "lost, the order is looked up by its client id 3 times, after this delay, "
                "twice it, then three times it", unit="s", minimum=0.1, maximum=60,
                runtime=False, group=_B),
    SettingSpec("broker.read_retries", "int", 2, "Retries of an idempotent read on a "
                "transient failure (jittered exponential backoff); orders are never retried",
                minimum=0, maximum=5, runtime=False, group=_B),
    SettingSpec("broker.requests_per_minute", "int", 40, "Client-side rate limit of Tradernet "
                "requests", unit="req/min", minimum=1, maximum=600, runtime=False, group=_B),
    SettingSpec("broker.burst", "int", 3, "Requests allowed back-to-back before the rate "
                "limit applies", minimum=1, maximum=50, runtime=False, group=_B),
    SettingSpec("broker.breaker_failures", "int", 5, "Consecutive transport failures that "
                "open the circuit breaker", minimum=1, maximum=100, runtime=False, group=_B),
    SettingSpec("broker.breaker_cooldown_s", "int", 60, "Seconds the open breaker refuses "
                "calls before one trial", unit="s", minimum=1, maximum=3600, runtime=False,
                group=_B),
    SettingSpec("broker.paper_initial_cash_eur", "decimal", "10000", "Opening cash of the "
                "paper broker's simulated account", unit="EUR", minimum=0,
                maximum=10_000_000, runtime=False, group=_B),
    SettingSpec("broker.paper_slippage_bps", "decimal", "5", "Slippage of a paper fill "
                "against the order (a buy pays more, a sell receives less) on top of the "
                "next available price; currency exchanges are not slipped", unit="bps",
                minimum=0, maximum=500, group=_B),
    SettingSpec("job_broker_probe_minutes", "int", 5, "Interval of the broker reachability "
                "probe", unit="min", minimum=1, maximum=60, group="scheduling"),
)
