"""Order construction: marketable limit prices, lot sizing and client order ids."""

from __future__ import annotations

import hashlib
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from arduino_trader.protocols.broker import MAX_ORDER_QUANTITY, Side

CLIENT_ID_SPACE = 2**31 - 1  # Tradernet's user_order_id is an integer


class OrderConstructionError(ValueError):
    """No sound order can be built from these inputs (the reason says why)."""


def limit_price(side: Side, bid: Decimal | None, ask: Decimal | None, buffer: Decimal,
                min_step: Decimal | None) -> Decimal:
    """A marketable limit: BUY at ask × (1 + buffer) rounded down to the tick, SELL at
    bid × (1 − buffer) rounded up. No fresh quote on the needed side means no order."""
    if not Decimal(0) <= buffer < Decimal("0.2"):
        raise OrderConstructionError(f"limit buffer must be in [0, 0.2), got {buffer}")
    reference = ask if side == "BUY" else bid
    if reference is None or reference <= 0:
        raise OrderConstructionError(f"no usable {'ask' if side == 'BUY' else 'bid'} price")
    raw = reference * (1 + buffer) if side == "BUY" else reference * (1 - buffer)
    step = min_step if min_step is not None and min_step > 0 else Decimal("0.01")
    ticks = (raw / step).to_integral_value(ROUND_FLOOR if side == "BUY" else ROUND_CEILING)
    price = ticks * step
    if price <= 0:
        raise OrderConstructionError(f"limit price rounds to {price}")
    return price


def buy_quantity(target_eur: Decimal, rate: Decimal, price: Decimal, min_lot: int) -> int:
    """Whole lots that fit in ``target_eur``: floor(target × rate / (lot × price)) × lot.

    Zero when not even one lot fits: the order is skipped, never rounded up to a lot.
    ``rate`` is units of the trade currency per 1 EUR.
    """
    if rate <= 0 or price <= 0 or min_lot < 1:
        raise OrderConstructionError("rate, price and lot must be positive")
    if target_eur <= 0:
        return 0
    lots = int((target_eur * rate / (min_lot * price)).to_integral_value(ROUND_FLOOR))
    return min(lots * min_lot, MAX_ORDER_QUANTITY // min_lot * min_lot)


def sell_quantity(desired: Decimal, held: Decimal, min_lot: int) -> int:
    """Round a sell down to whole lots, capped at the holding."""
    if min_lot < 1:
        raise OrderConstructionError("lot must be positive")
    capped = min(desired, held)
    if capped <= 0:
        return 0
    lots = int((capped / min_lot).to_integral_value(ROUND_FLOOR))
    return lots * min_lot


def client_order_id(intent_key: str, attempt: int = 0) -> int:
    """Deterministic ``user_order_id`` in ``[1, 2**31 - 1]`` for an order intent.

    The same intent (plan hash, step, security, side, quantity, source) always gets the
    same id, so a crash and re-plan finds the order again instead of doubling it.
    ``attempt`` salts the hash when the journal already holds the id for another intent.
    """
    digest = hashlib.blake2b(f"{intent_key}#{attempt}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % CLIENT_ID_SPACE + 1
