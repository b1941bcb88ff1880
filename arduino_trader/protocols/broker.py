"""The broker port: what the daemon asks of Tradernet (or the paper broker), as typed records.

Money is exact (``Decimal``). Every failure reaches the caller as a ``BrokerError``
subclass (``protocols/broker_errors.py``). Order statuses are the broker's codes
(``ORDER_STATUS_NAMES``; terminal ones in ``TERMINAL_STATUSES``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal, Protocol

Side = Literal["BUY", "SELL"]
Expiration = Literal["day", "ext", "gtc"]

MAX_ORDER_QUANTITY = 1_000_000

# --------------------------------------------------------------------------- statuses
ORDER_STATUS_NAMES: dict[int, str] = {
    0: "ignored", 1: "received", 2: "cancelling", 10: "active", 11: "sent",
    12: "partially_completed", 20: "partially_executed", 21: "executed",
    30: "partially_cancelled", 31: "cancelled", 70: "rejected", 71: "expired",
    72: "partially_executed_expired", 74: "send_error", 75: "cancellation_error",
}
TERMINAL_STATUSES: frozenset[int] = frozenset({0, 21, 30, 31, 70, 71, 72, 74})


def status_name(code: int) -> str:
    """Readable name of a broker order status (``unknown_<n>`` for an unlisted code)."""
    return ORDER_STATUS_NAMES.get(code, f"unknown_{code}")


def is_terminal(code: int) -> bool:
    """True for final statuses; anything else (including unknown codes) counts as pending."""
    return code in TERMINAL_STATUSES


# ---------------------------------------------------------------------------- records
@dataclass(frozen=True)
class CashBalance:
    """Cash in one currency; ``amount`` may be negative."""

    currency: str
    amount: Decimal
    currency_rate: Decimal | None = None
    forecast_in: Decimal = Decimal(0)
    forecast_out: Decimal = Decimal(0)


@dataclass(frozen=True)
class Position:
    """A holding; ``market_value`` = quantity × market_price (the broker's own is unreliable)."""

    symbol: str
    quantity: Decimal
    avg_price: Decimal
    market_price: Decimal
    currency: str
    name: str = ""
    currency_rate: Decimal | None = None
    profit: Decimal | None = None

    @property
    def market_value(self) -> Decimal:
        """Quantity times market price, in the position's currency."""
        return self.quantity * self.market_price


@dataclass(frozen=True)
class AccountSnapshot:
    """Positions and every cash row (negative balances included)."""

    positions: tuple[Position, ...]
    cash: tuple[CashBalance, ...]
    simulated: bool = False

    def cash_in(self, currency: str) -> Decimal:
        """Sum of cash rows in ``currency`` (0 when there is none)."""
        return sum((c.amount for c in self.cash if c.currency == currency), Decimal(0))


@dataclass(frozen=True)
class Quote:
    """A live quote; prices absent from the broker's answer are None."""

    symbol: str
    last: Decimal | None
    bid: Decimal | None
    ask: Decimal | None
    prev_close: Decimal | None
    currency: str
    isin: str = ""
    lot: int = 1
    min_step: Decimal | None = None
    name: str = ""
    at: datetime | None = None


@dataclass(frozen=True)
class OrderRequest:
    """A cash order (never margin). ``user_order_id`` is our client order id."""

    symbol: str
    side: Side
    quantity: int
    user_order_id: int
    limit_price: Decimal | None = None
    expiration: Expiration = "day"

    def __post_init__(self) -> None:
        if isinstance(self.quantity, bool) or not isinstance(self.quantity, int):
            raise ValueError(f"quantity must be an integer, got {self.quantity!r}")
        if not 0 < self.quantity <= MAX_ORDER_QUANTITY:
            raise ValueError(f"quantity {self.quantity} outside 1..{MAX_ORDER_QUANTITY}")
        if self.side not in ("BUY", "SELL"):
            raise ValueError(f"side must be BUY or SELL, got {self.side!r}")
        if isinstance(self.user_order_id, bool) or not isinstance(self.user_order_id, int) \
                or self.user_order_id <= 0:
            raise ValueError("user_order_id must be a positive integer")
        if self.limit_price is not None and (not isinstance(self.limit_price, Decimal)
                                             or not self.limit_price > 0):
            raise ValueError("limit_price must be a positive Decimal")
        if not self.symbol or self.symbol != self.symbol.strip():
            raise ValueError("symbol must be a non-empty ticker")
        if self.expiration not in ("day", "ext", "gtc"):
            raise ValueError(f"unknown expiration {self.expiration!r}")


@dataclass(frozen=True)
class OrderAck:
    """The broker accepted an order. ``recovered``: found by client id after a lost answer."""

    order_id: int
    user_order_id: int
    recovered: bool = False
    simulated: bool = False


@dataclass(frozen=True)
class Fill:
    """One execution of an order."""

    trade_id: int
    price: Decimal
    quantity: Decimal
    at: datetime | None = None


@dataclass(frozen=True)
class Order:
    """An order as the broker reports it."""

    order_id: int
    symbol: str
    side: Side
    quantity: Decimal
    leaves_quantity: Decimal
    status: int
    currency: str = ""
    limit_price: Decimal | None = None
    user_order_id: int | None = None
    placed_at: datetime | None = None
    fills: tuple[Fill, ...] = ()
    simulated: bool = False

    @property
    def terminal(self) -> bool:
        """The status is final."""
        return is_terminal(self.status)

    @property
    def status_name(self) -> str:
        """Readable status."""
        return status_name(self.status)


@dataclass(frozen=True)
class Trade:
    """An executed trade (fill), keyed by the broker's trade id."""

    trade_id: int
    order_id: int | None
    symbol: str
    side: Side
    quantity: Decimal
    price: Decimal
    value: Decimal
    currency: str
    executed_at: datetime | None
    fee: Decimal | None = None
    simulated: bool = False


@dataclass(frozen=True)
class CashFlow:
    """A cash movement (deposit, withdrawal, dividend, fee...); ``amount`` is signed.

    ``symbol``/``isin`` name the instrument a movement belongs to (a dividend, a
    withholding tax) when the broker's row names exactly one; ``None`` when unknown.
    """

    flow_id: str
    type_code: str
    amount: Decimal
    currency: str
    at: datetime | None
    comment: str = ""
    simulated: bool = False
    symbol: str | None = None
    isin: str | None = None


@dataclass(frozen=True)
class CpsRequest:
    """A client request (e.g. a withdrawal, ``type_doc_id`` 337) and its status."""

    request_id: int
    type_doc_id: int
    status: int
    created_at: datetime | None
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SecurityInfo:
    """Trading facts of one instrument."""

    symbol: str
    name: str
    currency: str
    min_step: Decimal | None
    lot: int
    market_id: int | None = None
    isin: str = ""


@dataclass(frozen=True)
class FinderHit:
    """One ``tickerFinder`` result; the first hit is the primary listing."""

    symbol: str
    name: str
    isin: str
    instrument_type: int | None
    instrument_kind: int | None
    market: str
    market_id: int | None
    currency: str


@dataclass(frozen=True)
class MarketState:
    """A market's trading status (``getMarketStatus``)."""

    code: str
    name: str
    market_id: int | None
    is_open: bool
    opens: str = ""
    closes: str = ""


@dataclass(frozen=True)
class Candle:
    """A daily bar. Tradernet sends H-L-O-C; this record names every field."""

    at: datetime
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal


# ------------------------------------------------------------------------------- port
class Broker(Protocol):
    """The operations the daemon needs from a broker. Coroutines on the I/O loop."""

    simulated: bool

    async def probe(self) -> str:
        """A cheap authenticated call; returns a short description or raises."""
        ...

    async def account(self) -> AccountSnapshot:
        """Positions and cash per currency."""
        ...

    async def quotes(self, symbols: tuple[str, ...]) -> tuple[Quote, ...]:
        """Live quotes for ``symbols``."""
        ...

    async def place_order(self, request: OrderRequest) -> OrderAck:
        """Place a cash order; never retried blindly (a lost answer is looked up)."""
        ...

    async def cancel_order(self, order_id: int) -> None:
        """Ask the broker to cancel an order."""
        ...

    async def open_orders(self) -> tuple[Order, ...]:
        """Orders not yet in a terminal status."""
        ...

    async def current_orders(self) -> tuple[Order, ...]:
        """Every order of the current period, terminal ones included."""
        ...

    async def find_order(self, user_order_id: int) -> Order | None:
        """The current-period order with that client id, or None if the broker has none."""
        ...

    async def order_history(self, start: datetime, end: datetime) -> tuple[Order, ...]:
        """Orders placed between ``start`` and ``end``."""
        ...

    async def trades(self, start: date, end: date) -> tuple[Trade, ...]:
        """Executed trades between two dates (inclusive)."""
        ...

    async def cash_flows(self, take: int = 500, skip: int = 0) -> tuple[CashFlow, ...]:
        """Cash movements, newest first (``getUserCashFlows``)."""
        ...

    async def client_requests(self, start: datetime, end: datetime) -> tuple[CpsRequest, ...]:
        """Client requests such as withdrawals (``getClientCpsHistory``)."""
        ...

    async def security_info(self, symbol: str) -> SecurityInfo:
        """Lot, step and currency of one instrument."""
        ...

    async def find_security(self, text: str) -> tuple[FinderHit, ...]:
        """Search by ISIN, ticker or ``TICKER@EXCH``."""
        ...

    async def top_securities(self, exchange: str, *, kind: str = "stocks",
                             gainers: bool = False, limit: int = 10) -> tuple[str, ...]:
        """Tickers most traded (or fastest growing over a year) on a screening exchange."""
        ...

    async def market_status(self, market: str = "*") -> tuple[MarketState, ...]:
        """Open/closed state of markets."""
        ...

    async def cross_rates(self, base: str, currencies: tuple[str, ...],
                          on: date | None = None) -> dict[str, Decimal]:
        """Units of each currency per 1 ``base``."""
        ...

    async def daily_history(self, symbol: str, start: datetime,
                            end: datetime) -> tuple[Candle, ...]:
        """Daily bars (``getHloc``)."""
        ...

    async def close(self) -> None:
        """Release connections."""
        ...
