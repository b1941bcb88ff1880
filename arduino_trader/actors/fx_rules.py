"""The one FX age rule for every actor that values money at stored rates: a rate older
than ``market_data.fx_max_age_days`` before the day it is needed for (today for a current
valuation) is not used; whatever needs it is blocked with that reason (``MissingRate``),
never valued at an old rate."""

from __future__ import annotations

from typing import Any

from arduino_trader.adapters.store import fx_tables
from arduino_trader.domain.cash_flows.fx import RateTable

from .base import ActorContext


def max_age_days(ctx: ActorContext) -> int:
    """The setting that bounds the age of every rate used."""
    return ctx.settings().typed.market_data.fx_max_age_days


def rate_table(ctx: ActorContext, db: Any, *, latest_only: bool = False) -> RateTable:
    """The stored rates under the age rule, as of the clock's day."""
    load = fx_tables.load_latest_rates if latest_only else fx_tables.load_rates
    return load(db, max_age_days(ctx), ctx.clock.now().date())
