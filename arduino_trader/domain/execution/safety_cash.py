"""The safety pipeline's money layers: what a buy costs at its limit (fees included)
against the account's cash in its currency after open buys (``cash``) and against its
bucket's own ledger cash in EUR (``bucket_cash``), and the shortfall a funding exchange
covers."""

from __future__ import annotations

from decimal import Decimal

from arduino_trader.protocols.money import ZERO

from .costs import CostError
from .facts import OpenOrderFact, OrderIntent, SafetyFacts, SafetyLimits
from .safety_types import LayerContext, Rejection


def order_value(c: LayerContext) -> Decimal | None:
    """Estimated value in the trade currency at the limit price (price × (1 ± buffer))."""
    if c.facts.price is None:
        return None
    sign = 1 if c.intent.side == "BUY" else -1
    return c.intent.quantity * c.facts.price.price * (1 + sign * c.limits.limit_buffer)


def _buy_need(c: LayerContext) -> tuple[Decimal, Decimal, Decimal, Decimal] | Rejection:
    """(value + fee, fee, available, reserved) of a buy in its trade currency."""
    orders, sec = c.facts.open_orders, c.facts.security
    assert orders is not None and sec is not None and c.facts.cash is not None
    value = order_value(c)
    assert value is not None
    try:
        fee = c.limits.costs.commission(value, c.facts.fx_rate)
    except CostError as exc:
        return Rejection("cash", "fx_rate_missing", str(exc))
    reserved = reserved_by_open_buys(orders).get(sec.currency, ZERO)
    available = c.facts.cash.get(sec.currency, ZERO) - reserved
    return value + fee, fee, available, reserved


def cash_layer(c: LayerContext) -> Rejection | None:
    """A buy's limit value plus fees, in its trade currency, is covered by that
    currency's cash after open buys; a negative balance anywhere blocks buys."""
    if c.intent.side != "BUY":
        return None
    cash, sec, orders = c.facts.cash, c.facts.security, c.facts.open_orders
    if cash is None:
        return Rejection("cash", "cash_unknown", "cash balances unknown")
    negative = sorted(cur for cur, amount in cash.items() if amount < 0)
    if negative:
        return Rejection("cash", "negative_balance",
                         f"negative balance in {', '.join(negative)}: buys are blocked")
    if orders is None:
        return Rejection("cash", "open_orders_unknown", "open orders unknown")
    assert sec is not None
    need = _buy_need(c)
    if isinstance(need, Rejection):
        return need
    total, fee, available, reserved = need
    if available < total:
        return Rejection("cash", "insufficient_cash", f"needs {total:.2f} "
                         f"{sec.currency} (incl. {fee:.2f} fees), {available:.2f} available "
                         f"after {reserved:.2f} reserved by open buys")
    return None


def bucket_cash_layer(c: LayerContext) -> Rejection | None:
    """A bucket's buy (fees included, in EUR) is covered by its own ledger cash."""
    bucket = c.facts.bucket
    if c.intent.side != "BUY" or bucket is None:
        return None
    value, rate = order_value(c), c.facts.fx_rate
    if value is None or rate is None or rate <= 0:
        return Rejection("bucket_cash", "fx_rate_missing", "no FX rate for the trade currency")
    try:
        fee = c.limits.costs.commission(value, rate)
    except CostError as exc:
        return Rejection("bucket_cash", "fx_rate_missing", str(exc))
    return bucket_cash_rejection(bucket.bucket_id, (value + fee) / rate, fee / rate,
                                 bucket.cash_eur, bucket.committed_eur)


def bucket_cash_rejection(bucket_id: str, need_eur: Decimal, fees_eur: Decimal,
                          cash_eur: Decimal | None,
                          committed: Decimal = ZERO) -> Rejection | None:
    """What a bucket buys (fees included, EUR) is paid from its own ledger cash, less what
    its open buys will still spend (``committed``); unknown cash blocks. Judges each buy,
    and a whole rebalance per bucket before it is sent."""
    if cash_eur is None:
        return Rejection("bucket_cash", "bucket_cash_unknown",
                         f"ledger cash of bucket {bucket_id} is unknown")
    if need_eur > cash_eur - committed:
        after = f", {committed:.2f} EUR of it committed to open buys" if committed else ""
        return Rejection("bucket_cash", "bucket_cash_insufficient",
                         f"bucket {bucket_id} needs {need_eur:.2f} EUR (incl. {fees_eur:.2f} "
                         f"fees) but its ledger cash is {cash_eur:.2f} EUR{after}")
    return None


def reserved_by_open_buys(orders: tuple[OpenOrderFact, ...]) -> dict[str, Decimal]:
    """Cash per currency that open buy orders will still spend (at their limit)."""
    out: dict[str, Decimal] = {}
    for o in orders:
        if o.side == "BUY":
            out[o.currency] = out.get(o.currency, ZERO) + o.quantity * (o.price or ZERO)
    return out


def cash_shortfall(intent: OrderIntent, facts: SafetyFacts, limits: SafetyLimits) -> Decimal:
    """How much of its trade currency a buy lacks (value at the limit plus costs, after
    open buys); zero when it is covered. Call it only for a buy the cash layer refused
    with ``insufficient_cash`` (every fact it reads was known then)."""
    ctx = LayerContext(intent, facts, limits, False, [])
    need = _buy_need(ctx)
    if isinstance(need, Rejection):
        raise ValueError(need.message)
    total, _, available, _ = need
    return max(ZERO, total - available)

