"""The safety pipeline every order passes, whatever its source.

Layers run in a fixed order and the first failure wins: mode → security and flags →
quantity sanity → frequency and loss breakers → cooldown / hold / position → market hours
→ price (staleness, anomaly) → planner guardrails → cash → bucket cash (a bucket's own
ledger cash) → pending orders. Any fact that is unknown blocks (fail closed). Emergency
rebalancing may bypass cooldown, hold time and frequency limits, nothing else.
"""

from __future__ import annotations

import re
from datetime import timedelta

from arduino_trader.protocols.money import ZERO

from .facts import OrderIntent, SafetyFacts, SafetyLimits, TradeFact
from .safety_cash import bucket_cash_layer, cash_layer, order_value
from .safety_types import Check, LayerContext, Rejection, Verdict

ISIN_RE = re.compile(r"^[A-Z]{2}[A-Z0-9]{9}[0-9]$")


def _mode(c: LayerContext) -> Rejection | None:
    if c.simulate:
        return None
    if c.facts.trading_mode != "live":
        return Rejection("mode", "mode_not_live", f"trading mode is "
                         f"{c.facts.trading_mode or 'unknown'}: orders need live mode",
                         "forbidden")
    return None


def _security(c: LayerContext) -> Rejection | None:
    isin = c.intent.isin
    if not ISIN_RE.match(isin):
        return Rejection("security", "isin_invalid", f"{isin!r} is not an ISIN", "invalid")
    sec = c.facts.security
    if sec is None or sec.isin != isin:
        return Rejection("security", "security_unknown", f"{isin} is not in the universe",
                         "not_found")
    if not sec.active:
        return Rejection("security", "security_inactive", f"{isin} is inactive")
    if c.intent.side == "BUY" and not sec.allow_buy:
        return Rejection("security", "buy_not_allowed", f"buying {isin} is not allowed")
    if c.intent.side == "SELL" and not sec.allow_sell:
        return Rejection("security", "sell_not_allowed", f"selling {isin} is not allowed")
    return None


def _quantity(c: LayerContext) -> Rejection | None:
    qty = c.intent.quantity
    if not qty.is_finite() or qty <= 0:
        return Rejection("quantity", "quantity_not_positive", f"quantity {qty} must be > 0",
                         "invalid")
    if qty != qty.to_integral_value():
        return Rejection("quantity", "quantity_fractional",
                         f"quantity {qty} is not a whole number of shares", "invalid")
    if qty > c.limits.max_quantity:
        return Rejection("quantity", "quantity_too_large",
                         f"quantity {qty} exceeds {c.limits.max_quantity}", "invalid")
    lot = c.facts.security.min_lot if c.facts.security else 1
    if lot > 1 and qty % lot:
        return Rejection("quantity", "quantity_not_lot_multiple",
                         f"quantity {qty} is not a multiple of the lot size {lot}", "invalid")
    return None


def _frequency(c: LayerContext) -> Rejection | None:
    if c.intent.emergency or not c.limits.frequency_enabled:
        return None
    trades = c.ledger()
    if trades is None:
        return Rejection("frequency", "ledger_unavailable", "trade history unavailable")
    now = c.facts.now
    if trades:
        last = max(t.at for t in trades)
        gap = timedelta(minutes=c.limits.min_minutes_between_trades)
        if now - last < gap:
            return Rejection("frequency", "frequency_min_interval",
                             f"last trade at {last.isoformat()}: less than "
                             f"{c.limits.min_minutes_between_trades} min ago")
    today = sum(1 for t in trades if t.at.date() == now.date())
    if today >= c.limits.max_trades_per_day:
        return Rejection("frequency", "frequency_daily",
                         f"{today} trades today (limit {c.limits.max_trades_per_day})")
    week = sum(1 for t in trades if now - t.at < timedelta(days=7))
    if week >= c.limits.max_trades_per_week:
        return Rejection("frequency", "frequency_weekly",
                         f"{week} trades in 7 days (limit {c.limits.max_trades_per_week})")
    return None


def _loss_breaker(c: LayerContext) -> Rejection | None:
    pnl = c.facts.day_pnl_fraction
    if pnl is None:
        return Rejection("loss_breaker", "day_pnl_unknown", "today's P&L is unknown")
    if pnl <= -c.limits.loss_blocks_all:
        return Rejection("loss_breaker", "loss_breaker_all",
                         f"portfolio down {-pnl:.2%} today: no trades")
    if c.intent.side == "SELL" and pnl <= -c.limits.loss_blocks_sells:
        return Rejection("loss_breaker", "loss_breaker_sells",
                         f"portfolio down {-pnl:.2%} today: no sells")
    return None


def _last_trade(trades: tuple[TradeFact, ...], isin: str,
                side: str | None = None) -> TradeFact | None:
    mine = [t for t in trades if t.isin == isin and (side is None or t.side == side)]
    return max(mine, key=lambda t: t.at) if mine else None


def _cooldown(c: LayerContext) -> Rejection | None:
    if c.intent.side != "BUY" or c.intent.emergency:
        return None
    trades = c.ledger()
    if trades is None:
        return Rejection("cooldown", "ledger_unavailable", "trade history unavailable")
    last = _last_trade(trades, c.intent.isin, "BUY")
    if last and c.facts.now - last.at < timedelta(days=c.limits.buy_cooldown_days):
        return Rejection("cooldown", "buy_cooldown", f"bought {c.intent.isin} on "
                         f"{last.at.date()}: cooldown {c.limits.buy_cooldown_days} days")
    sold = _last_trade(trades, c.intent.isin, "SELL")
    if sold and c.facts.now - sold.at < timedelta(days=c.limits.rebuy_cooldown_days):
        return Rejection("cooldown", "rebuy_cooldown", f"sold {c.intent.isin} on "
                         f"{sold.at.date()}: no rebuy within {c.limits.rebuy_cooldown_days} "
                         "days")
    return None


def _hold(c: LayerContext) -> Rejection | None:
    if c.intent.side != "SELL" or c.intent.emergency:
        return None
    trades = c.ledger()
    if trades is None:
        return Rejection("hold", "ledger_unavailable", "trade history unavailable")
    last = _last_trade(trades, c.intent.isin)
    if last is None:
        if c.facts.trade_history_known:
            return None
        return Rejection("hold", "hold_unknown", f"no trade of {c.intent.isin} is known and "
                         "its trade history is not imported from the broker yet: its hold "
                         "time is unknown")
    held_days = (c.facts.now - last.at).total_seconds() / 86_400
    if held_days < c.limits.min_hold_days:
        return Rejection("hold", "min_hold", f"last trade of {c.intent.isin} "
                         f"{held_days:.1f} days ago: hold at least {c.limits.min_hold_days}")
    return None


def _position(c: LayerContext) -> Rejection | None:
    if c.intent.side != "SELL":
        return None
    held = c.facts.quantity_held
    if held is None:
        return Rejection("position", "position_unknown", "current holding is unknown")
    if held <= 0:
        return Rejection("position", "position_missing", f"no position in {c.intent.isin}")
    if c.intent.quantity > held:
        return Rejection("position", "position_insufficient",
                         f"selling {c.intent.quantity} but only {held} held")
    return None


def _hours(c: LayerContext) -> Rejection | None:
    if c.facts.market_open is None:
        return Rejection("market_hours", "market_status_unknown",
                         "market status is unknown: treated as closed")
    if not c.facts.market_open:
        exchange = c.facts.security.exchange if c.facts.security else "the exchange"
        return Rejection("market_hours", "market_closed", f"{exchange} is closed")
    return None


def _price(c: LayerContext) -> Rejection | None:
    p = c.facts.price
    if p is None:
        return Rejection("price", "price_missing", "no execution price")
    if p.price <= 0:
        return Rejection("price", "price_non_positive", f"price {p.price} is not positive")
    age = c.facts.now - p.at
    if age > c.limits.max_quote_age:
        return Rejection("price", "price_stale", f"quote is {int(age.total_seconds())} s old "
                         f"(limit {int(c.limits.max_quote_age.total_seconds())} s)")
    closes = [x for x in p.recent_closes if x > 0]
    if len(closes) >= c.limits.anomaly_min_closes:
        mean = sum(closes, ZERO) / len(closes)
        if p.price >= mean * c.limits.anomaly_block_ratio:
            return Rejection("price", "price_anomaly", f"price {p.price} is at least "
                             f"{c.limits.anomaly_block_ratio}x the recent mean {mean:.4f}")
        if p.price <= mean * c.limits.anomaly_warn_ratio:
            c.warnings.append(f"price {p.price} is far below the recent mean {mean:.4f}")
    return None


def _guardrails(c: LayerContext) -> Rejection | None:
    if c.intent.side != "BUY":
        return None
    price = c.facts.price
    assert price is not None  # the price layer ran first
    high_limit = c.limits.max_buy_vs_52w_high  # 1 or more: the 52-week-high guardrail is off
    if high_limit < 1 and (price.high_52w is None or price.high_52w <= 0):
        return Rejection("guardrails", "high_52w_unknown", "52-week high unknown")
    if high_limit < 1 and price.high_52w is not None \
            and price.price > price.high_52w * high_limit:
        return Rejection("guardrails", "near_52w_high", f"price {price.price} is above "
                         f"{c.limits.max_buy_vs_52w_high:.0%} of the 52-week high "
                         f"{price.high_52w}")
    total, held, rate = c.facts.portfolio_value_eur, c.facts.position_value_eur, c.facts.fx_rate
    if total is None or held is None or rate is None or rate <= 0 or total <= 0:
        return Rejection("guardrails", "portfolio_value_unknown",
                         "portfolio value, position value or FX rate unknown")
    value = order_value(c)
    assert value is not None
    after = held + value / rate
    if after > total * c.limits.max_position_fraction:
        return Rejection("guardrails", "position_limit", f"position would be {after / total:.1%}"
                         f" of the portfolio (limit {c.limits.max_position_fraction:.0%})")
    return None


def _pending(c: LayerContext) -> Rejection | None:
    orders, unresolved = c.facts.open_orders, c.facts.unresolved_isins
    if orders is None or unresolved is None:
        return Rejection("pending", "pending_unknown", "open orders cannot be checked",
                         "conflict")
    if c.intent.isin in unresolved:
        return Rejection("pending", "unresolved_order", f"an earlier order for "
                         f"{c.intent.isin} is not final yet", "conflict")
    sym = c.intent.symbol.upper()
    for order in orders:
        if order.isin == c.intent.isin or order.symbol.upper() == sym:
            return Rejection("pending", "pending_order", f"an open {order.side} order for "
                             f"{order.symbol} exists", "conflict")
    return None


LAYERS: tuple[tuple[str, Check], ...] = (
    ("mode", _mode), ("security", _security), ("quantity", _quantity),
    ("frequency", _frequency), ("loss_breaker", _loss_breaker), ("cooldown", _cooldown),
    ("hold", _hold), ("position", _position), ("market_hours", _hours), ("price", _price),
    ("guardrails", _guardrails), ("cash", cash_layer), ("bucket_cash", bucket_cash_layer),
    ("pending", _pending),
)
"""The layers, in the order they run."""


def evaluate(intent: OrderIntent, facts: SafetyFacts, limits: SafetyLimits, *,
             simulate: bool = False, skip: frozenset[str] = frozenset()) -> Verdict:
    """Run every layer in order; the first rejection wins.

    ``simulate`` is research mode with the paper broker: the mode layer passes and the
    research ledger stands in for the live one, so a rehearsal is judged like the real thing.
    ``skip`` names layers not to run (the executor asks whether a buy short of cash would
    pass everything else before it funds it).
    """
    ctx = LayerContext(intent, facts, limits, simulate, [])
    checked: list[str] = []
    for name, check in LAYERS:
        if name in skip:
            continue
        rejection = check(ctx)
        checked.append(name)
        if rejection is not None:
            return Verdict(rejection, tuple(ctx.warnings), tuple(checked))
    return Verdict(None, tuple(ctx.warnings), tuple(checked))
