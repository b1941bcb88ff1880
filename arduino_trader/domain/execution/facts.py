"""What the safety pipeline knows about one order: every fact the checks read.

``None`` always means *unknown* (a store or broker call failed or was not made), and the
pipeline treats unknown as a reason to block: it fails closed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from arduino_trader.protocols.broker import Side
from arduino_trader.protocols.execution import OrderIntent, OrderSource
from arduino_trader.protocols.order_journal import LedgerMode, TradeFact

from .bucket_cash import BucketCash
from .costs import CostModel

__all__ = ["BucketCash", "LedgerMode", "OpenOrderFact", "OrderIntent", "OrderSource",
           "PriceFacts", "SafetyFacts", "SafetyLimits", "SecurityFacts", "TradeFact"]


@dataclass(frozen=True)
class SecurityFacts:
    """The universe record of the security, as far as trading is concerned."""

    isin: str
    symbol: str
    currency: str
    exchange: str
    active: bool = True
    allow_buy: bool = True
    allow_sell: bool = True
    min_lot: int = 1


@dataclass(frozen=True)
class OpenOrderFact:
    """An order the broker reports as not terminal."""

    symbol: str
    isin: str
    side: Side
    quantity: Decimal
    price: Decimal | None
    currency: str


@dataclass(frozen=True)
class PriceFacts:
    """The execution price (ask for a buy, bid for a sell) and what it is checked against."""

    price: Decimal
    at: datetime
    recent_closes: tuple[Decimal, ...] = ()
    high_52w: Decimal | None = None


@dataclass(frozen=True)
class SafetyFacts:
    """Everything known at decision time; ``None`` = unknown."""

    now: datetime
    trading_mode: str | None
    security: SecurityFacts | None
    quantity_held: Decimal | None
    trades: tuple[TradeFact, ...] | None
    market_open: bool | None
    cash: Mapping[str, Decimal] | None
    fx_rate: Decimal | None
    """Units of the trade currency per 1 EUR."""
    open_orders: tuple[OpenOrderFact, ...] | None
    unresolved_isins: frozenset[str] | None
    """Securities with a journal order whose outcome is not yet known."""
    price: PriceFacts | None
    day_pnl_fraction: Decimal | None
    """Today's portfolio change as a fraction (-0.03 = a 3% loss)."""
    portfolio_value_eur: Decimal | None
    position_value_eur: Decimal | None
    bucket: BucketCash | None = None
    """The ordering bucket's ledger cash; None when the ledger is not in use (no
    satellites: the account's cash is core's)."""
    trade_history_known: bool | None = None
    """Whether the ledger holds the security's broker trade history (a year back), so
    that no trade in ``trades`` means none within the minimum hold; None: unknown."""


@dataclass(frozen=True)
class SafetyLimits:
    """The settings the checks apply, with their defaults."""

    costs: CostModel
    buy_cooldown_days: int = 30
    rebuy_cooldown_days: int = 0  # no buy within this many days after a sell
    min_hold_days: int = 90
    frequency_enabled: bool = True
    min_minutes_between_trades: int = 60
    max_trades_per_day: int = 4
    max_trades_per_week: int = 10
    max_quote_age: timedelta = timedelta(minutes=15)
    limit_buffer: Decimal = Decimal("0.01")
    max_position_fraction: Decimal = Decimal("0.15")
    max_buy_vs_52w_high: Decimal = Decimal("0.95")
    loss_blocks_sells: Decimal = Decimal("0.02")
    loss_blocks_all: Decimal = Decimal("0.05")
    anomaly_block_ratio: Decimal = Decimal(10)
    anomaly_warn_ratio: Decimal = Decimal("0.1")
    anomaly_min_closes: int = 30
    max_quantity: int = 1_000_000
