"""Order execution vocabulary: intents, the executor's messages and its answers."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from .broker import Side
from .broker_errors import BrokerError
from .runtime import ASK_FAILURES

OrderSource = Literal["autonomous", "manual", "emergency_rebalancing", "drip", "satellite"]
ORDER_SOURCES: tuple[str, ...] = ("autonomous", "manual", "emergency_rebalancing", "drip",
                                  "satellite")


@dataclass(frozen=True)
class OrderIntent:
    """An order someone wants placed; ``quantity`` may still be fractional or absurd."""

    isin: str
    symbol: str
    side: Side
    quantity: Decimal
    source: OrderSource

    @property
    def emergency(self) -> bool:
        """Emergency rebalancing may bypass cooldown, hold time and frequency limits."""
        return self.source == "emergency_rebalancing"


ORDER_ASK_FAILURES: tuple[type[Exception], ...] = (*ASK_FAILURES, BrokerError)
"""What an ask of the executor raises instead of an order answer: it is not running or
too slow, or the broker failed it. The order's client id makes a retry safe."""


@dataclass(frozen=True)
class SubmitOrder:
    """Ask the executor to place one order. ``intent_key`` identifies the intent: the same
    key never produces a second order (idempotent resubmission)."""

    intent: OrderIntent
    intent_key: str
    reason: str = ""
    bucket_id: str = "core"


@dataclass(frozen=True)
class ValidateOrder:
    """Dry run: which layer would block this order, and why (nothing is written)."""

    intent: OrderIntent


@dataclass(frozen=True)
class CancelOpenOrders:
    """Cancel every open order at every broker orders were sent to, whatever the mode is
    now (the kill switch's second step); answers ``cancelled``, ``failed``,
    ``still_open`` and ``errors``."""

    who: str = "api"


@dataclass(frozen=True)
class FollowUpOrders:
    """Check every open journal entry against the broker now."""


@dataclass(frozen=True)
class PublishFills:
    """The broker sync stored fills of our own orders: publish their ``TradeExecuted``."""


@dataclass(frozen=True)
class OrderResult:
    """The executor's answer to :class:`SubmitOrder` / :class:`ValidateOrder`."""

    status: Literal["placed", "blocked", "failed", "duplicate", "valid"]
    message: str
    client_order_id: int | None = None
    state: str | None = None
    layer: str | None = None
    code: str | None = None
    kind: str | None = None
    warnings: tuple[str, ...] = ()
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TradeExecuted:
    """A fill recorded in the ledger (published once per broker trade)."""

    trade_key: str
    isin: str
    symbol: str
    side: Side
    quantity: Decimal
    price: Decimal
    currency: str
    executed_at: datetime
    source: str
    bucket_id: str
    mode: str


@dataclass(frozen=True)
class OrderPlaced:
    """An order the broker accepted (journaled first, then acknowledged)."""

    client_order_id: int
    broker_order_id: int
    isin: str
    symbol: str
    side: Side
    quantity: Decimal
    limit_price: Decimal
    currency: str
    source: str
    bucket_id: str
    mode: str


@dataclass(frozen=True)
class OrderRejected:
    """An order refused by the safety pipeline or the broker."""

    isin: str
    side: Side
    quantity: Decimal
    source: str
    layer: str
    code: str
    message: str


@dataclass(frozen=True)
class SubmitExchange:
    """Ask the executor to exchange currencies with one FX-pair order (a direct pair; a
    path through EUR is two requests, one per leg). The order delivers at least
    ``amount`` of ``target_currency``, or, when that would spend more than
    ``spend_cap`` of ``source_currency``, the most the cap buys. ``intent_key`` makes it
    idempotent like :class:`SubmitOrder`."""

    source_currency: str
    target_currency: str
    amount: Decimal
    intent_key: str
    source: OrderSource = "manual"
    spend_cap: Decimal | None = None
    reason: str = ""
    bucket_id: str = "core"


@dataclass(frozen=True)
class CurrencyExchanged:
    """A fill of an FX-pair order recorded in the FX ledger (published once per broker
    trade). Amounts are signed cash changes before the fee (base ± quantity, quote ∓
    quantity × price)."""

    trade_key: str
    symbol: str
    side: Side
    base_currency: str
    base_amount: Decimal
    quote_currency: str
    quote_amount: Decimal
    price: Decimal
    executed_at: datetime
    source: str
    bucket_id: str
    mode: str
