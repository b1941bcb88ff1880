"""Request bodies of the trading routes: orders, recommendations, FX, rebalancing."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, Literal

from msgspec import UNSET, Meta, UnsetType, field

from arduino_trader.domain.emergency import EMERGENCY_PORTFOLIO_HASH
from arduino_trader.domain.fx_exchange import FX_PAIRS
from arduino_trader.protocols.broker import MAX_ORDER_QUANTITY

from .body import Body, Num, RequestId

EXECUTE_CONFIRMATION = "EXECUTE"
KILL_CONFIRMATION = "STOP TRADING"
MAX_CASH_EUR = Decimal("1000000000")  # 1e9 EUR: anything above is a typo, not cash
MAX_FX_AMOUNT = Decimal(1_000_000_000)
CURRENCIES: tuple[str, ...] = tuple(sorted({c for p in FX_PAIRS for c in (p.base, p.quote)}))
if TYPE_CHECKING:
    Currency = str
else:  # an enum of the currencies the FX pairs connect
    Currency = Literal[CURRENCIES]
_NOT_BLANK = Meta(pattern=r"\S")


class ValidateOrderBody(Body):
    """``POST /api/trades/validate``: a dry run (no confirmation, no retry id)."""

    symbol: Annotated[str, _NOT_BLANK, Meta(description="ISIN")]
    side: Literal["BUY", "SELL"]
    quantity: Annotated[Decimal, Num(gt=Decimal(0), le=Decimal(MAX_ORDER_QUANTITY), places=0)]


class OrderBody(ValidateOrderBody):
    """``POST /api/trades/execute``: one manual order; ``confirm`` must be ``EXECUTE``."""

    error_codes = {"confirm": "confirmation_required"}

    confirm: Literal["EXECUTE"]
    request_id: RequestId


class KillSwitchBody(Body):
    """``POST /api/trades/kill-switch``: ``confirm`` must be ``STOP TRADING``."""

    error_codes = {"confirm": "confirmation_required"}

    confirm: Literal["STOP TRADING"]


class ExecuteStepBody(Body):
    """``POST /api/trades/recommendations/execute``: ``confirm`` must be ``EXECUTE``."""

    error_codes = {"confirm": "confirmation_required"}

    confirm: Literal["EXECUTE"]


class DismissBody(Body):
    """``POST /api/trades/recommendations/dismiss``: the plan's portfolio hash, or the
    emergency recommendations' hash with optionally one of their keys."""

    portfolio_hash: Annotated[str, Meta(
        pattern=rf"^([0-9a-f]{{16}}|{re.escape(EMERGENCY_PORTFOLIO_HASH)})$",
        description=f"16 lowercase hex digits, or \"{EMERGENCY_PORTFOLIO_HASH}\"")]
    key: Annotated[str, Meta(pattern=r"^emergency:",
                             description="one emergency recommendation")] | None = None


class ExchangeBody(Body):
    """``POST /api/fx/exchange``: at least ``amount`` of ``to`` for ``from``."""

    source: Currency = field(name="from")
    target: Currency = field(name="to")
    amount: Annotated[Decimal, Num(gt=Decimal(0), le=MAX_FX_AMOUNT,
                                   description="at least this much of `to` arrives")]
    request_id: RequestId


class RebalanceBody(Body):
    """``POST /api/rebalancing/execute-rebalance``: ``confirm`` must be ``EXECUTE``; EUR
    to spend (default and at most: the broker's cash above ``min_cash_reserve``)."""

    error_codes = {"available_cash": "invalid_cash", "confirm": "confirmation_required"}

    confirm: Literal["EXECUTE"]
    available_cash: Annotated[Decimal, Num(ge=Decimal(0), le=MAX_CASH_EUR)] | UnsetType = UNSET
