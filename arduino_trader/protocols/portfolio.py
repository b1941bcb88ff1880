"""Portfolio messages: what the portfolio actor publishes after a sync."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal


@dataclass(frozen=True)
class PortfolioSynced:
    """Published after the portfolio step of the sync cycle stored positions and cash.

    ``total_value_eur`` is None while a currency has no FX rate (``missing_fx`` names it);
    ``negative_cash`` lists currencies below zero (the emergency check's input).
    """

    at: datetime
    position_count: int
    total_value_eur: Decimal | None
    cash_eur: Decimal | None
    invested_eur: Decimal | None
    missing_fx: tuple[str, ...] = ()
    negative_cash: dict[str, Decimal] = field(default_factory=dict)
    snapshot_day: str | None = None


@dataclass(frozen=True)
class TradeFeeRecorded:
    """The broker's trade history named the commission of a fill the executor had stored
    without one (order fills carry no fee); published once, when the fee is first stored."""

    trade_key: str
    bucket_id: str
    fee: Decimal
    currency: str
    mode: str
