"""Settings of currency exchange through FX-pair orders (domain/fx_exchange.py)."""

from __future__ import annotations

from .spec import SettingSpec

_G = "fx"

KEYS: tuple[SettingSpec, ...] = (
    SettingSpec("fx_limit_buffer", "decimal", "0.005", "FX-pair orders: limit at "
                "ask×(1+x) when receiving the base currency, bid×(1−x) when paying it; "
                "orders are sized at that limit", unit="fraction", minimum=0, maximum=0.05,
                group=_G),
    SettingSpec("fx_max_exchange_eur", "decimal", "10000", "Largest currency exchange one "
                "order may spend (EUR value of the source amount)", unit="EUR", minimum=0,
                maximum=1_000_000, group=_G),
    SettingSpec("fx_max_quote_age_minutes", "int", 15, "An FX-pair quote older than this "
                "blocks the exchange", unit="min", minimum=1, maximum=1440, group=_G),
    SettingSpec("fx_fill_wait_s", "int", 120, "Emergency rebalancing: how long to wait for "
                "an exchange or sale to fill before the next step", unit="s", minimum=0,
                maximum=3600, group=_G),
    SettingSpec("fx_fill_poll_s", "float", 1.0, "Emergency rebalancing: pause between two "
                "checks of an order that has not filled yet", unit="s", minimum=0,
                maximum=60, group=_G),
    SettingSpec("fx_auto_fund_buys", "bool", True, "Fund a buy whose currency is short by "
                "first exchanging exactly the missing amount from another currency (EUR "
                "first)", group=_G),
    SettingSpec("fx_fund_buffer", "decimal", "0.02", "A funding exchange delivers the "
                "buy's shortfall (costs included) × (1 + x)", unit="fraction", minimum=0,
                maximum=0.2, group=_G),
    SettingSpec("fx_funding_batch_eur", "decimal", "5000", "A funding exchange delivers up "
                "to this much (EUR worth) of the source currency's surplus, not just the "
                "buy's shortfall, so later buys need no exchange of their own (0: off)",
                unit="EUR", minimum=0, maximum=1_000_000, group=_G),
)
