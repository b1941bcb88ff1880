"""Emergency rebalancing of negative or thin cash, and the rebalancing triggers.

A pure planner: balances, holdings, rates and an ``is_open(exchange)`` predicate in;
ordered actions out. The actor executes them (or, in research mode, records them),
holds the ``emergency_rebalance`` lock and refreshes balances between steps.

Workflow, in this order:
1. currency exchange from other currencies (each short currency receives its
   shortfall × 1.02, sources with the largest EUR excess over the reserve first, split
   across sources when needed; at most 20 rounds);
2. position sales if still short and a market is open: positions in a short currency
   first, then by EUR value; sell until the proceeds reach 1.1 × the EUR need, each sale
   rounded *up* to the lot and capped at the holding;
3. final exchange (step 1 again); anything still short is reported as unresolved.

:func:`plan_emergency` plans the three steps at once on the balances each step would
leave; a live run executes one step at a time (:func:`plan_exchanges`,
:func:`plan_sales`) and re-plans from the broker's balances after each, since fills
never match an estimate to the cent.
FX is exact ``Decimal`` through EUR; a missing rate for a short currency raises
:class:`~arduino_trader.domain.cash_flows.fx.MissingRate` (never 1:1), a source or
holding without a rate is skipped.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Literal

from arduino_trader.domain.cash_flows.fx import Rates, convert
from arduino_trader.protocols.money import CENT, ZERO

MIN_CURRENCY_RESERVE = Decimal("5")
EXCHANGE_BUFFER = Decimal("1.02")
SELL_BUFFER = Decimal("1.1")
MAX_EXCHANGE_ROUNDS = 20
EMERGENCY_PORTFOLIO_HASH = "EMERGENCY:negative_balance_rebalancing"
EMERGENCY_PRIORITY = 999
EMERGENCY_REASON = "emergency rebalancing: negative cash balance"
STRICT_BUY_EXCHANGES: frozenset[str] = frozenset({"XHKG", "XSHG", "XTSE", "XASX"})
LOCK_NAME = "emergency_rebalance"
LOCK_TTL_S = 60


# ------------------------------------------------------------------------- detection
def checked_currencies(balances: Mapping[str, Decimal],
                       security_currencies: Iterable[str]) -> frozenset[str]:
    """Currencies of active securities ∪ currencies with a negative balance."""
    return frozenset(security_currencies) | {c for c, v in balances.items() if v < 0}


def shortfalls(balances: Mapping[str, Decimal], checked: Iterable[str],
               reserve: Decimal = MIN_CURRENCY_RESERVE) -> dict[str, Decimal]:
    """reserve − balance for every checked currency below the reserve (missing = 0)."""
    out: dict[str, Decimal] = {}
    for ccy in sorted(set(checked)):
        balance = balances.get(ccy, ZERO)
        if balance < reserve:
            out[ccy] = reserve - balance
    return out


@dataclass(frozen=True)
class BalanceCheck:
    """The answer of the negative-balance check (its rebalancing endpoint)."""

    has_negative: bool
    below_minimum: bool
    shortfalls: dict[str, Decimal]
    total_shortfall_eur: Decimal


def check_balances(balances: Mapping[str, Decimal], security_currencies: Iterable[str],
                   rates: Rates, reserve: Decimal = MIN_CURRENCY_RESERVE) -> BalanceCheck:
    """Negative and thin balances per currency, with the total shortfall in EUR.

    ``balances`` must include zero and negative rows (the broker port returns them).
    """
    checked = checked_currencies(balances, security_currencies)
    short = shortfalls(balances, checked, reserve)
    total = sum((v * rates.eur_per(c) for c, v in short.items()), ZERO)
    return BalanceCheck(has_negative=any(v < 0 for v in balances.values()),
                        below_minimum=bool(short), shortfalls=short,
                        total_shortfall_eur=total.quantize(CENT, rounding=ROUND_CEILING))


# -------------------------------------------------------------------------- planning
BucketCash = Mapping[str, Mapping[str, Decimal]]


@dataclass(frozen=True)
class Holding:
    """A position the emergency step may sell (quantity in whole units): one bucket's
    part of a broker position (a sale sells from, and credits, that bucket)."""

    symbol: str
    quantity: Decimal
    price: Decimal
    currency: str
    exchange: str
    lot: int = 1
    allow_sell: bool = True
    bucket_id: str = "core"


@dataclass(frozen=True)
class Exchange:
    """Sell ``sell_amount`` of ``sell_currency`` for (at least) ``buy_amount`` of
    ``buy_currency``; ``step`` is 1 (first exchange) or 3 (final exchange)."""

    step: Literal[1, 3]
    sell_currency: str
    sell_amount: Decimal
    buy_currency: str
    buy_amount: Decimal


@dataclass(frozen=True)
class Sale:
    """Sell ``quantity`` of ``symbol`` (step 2); ``value`` in its currency."""

    symbol: str
    quantity: int
    price: Decimal
    currency: str
    exchange: str
    value: Decimal
    value_eur: Decimal
    step: Literal[2] = 2
    bucket_id: str = "core"


Action = Exchange | Sale


@dataclass(frozen=True)
class EmergencyPlan:
    """Ordered actions, the shortfalls before and after, and notes for the log."""

    actions: tuple[Action, ...]
    initial_shortfalls: dict[str, Decimal]
    final_shortfalls: dict[str, Decimal]
    notes: tuple[str, ...]

    @property
    def resolved(self) -> bool:
        """No shortfall is left after the planned actions."""
        return not self.final_shortfalls

    @property
    def dismiss_stale_recommendations(self) -> bool:
        """No shortfall at the start: stale emergency recommendations must go."""
        return not self.initial_shortfalls


def _exchange_step(step: Literal[1, 3], bal: dict[str, Decimal], checked: frozenset[str],
                   rates: Rates, reserve: Decimal, notes: list[str]) -> list[Exchange]:
    actions: list[Exchange] = []
    for _ in range(MAX_EXCHANGE_ROUNDS):
        short = shortfalls(bal, checked, reserve)
        if not short:
            break
        progress = False
        for target, shortfall in short.items():
            rates.eur_per(target)  # a short currency without a rate blocks the run
            need = (shortfall * EXCHANGE_BUFFER).quantize(CENT, rounding=ROUND_CEILING)
            for source in _sources(bal, target, rates, reserve, notes):
                if need <= 0:
                    break
                available = (bal[source] - reserve).quantize(CENT, rounding=ROUND_FLOOR)
                sell = min(available, convert(need, target, source, None, rates,
                                              round_up=True))
                got = convert(sell, source, target, None, rates)
                if sell <= 0 or got <= 0:
                    continue
                actions.append(Exchange(step, source, sell, target, got))
                bal[source] -= sell
                bal[target] = bal.get(target, ZERO) + got
                need -= got
                progress = True
        if not progress:
            break
    return actions


def _sources(bal: Mapping[str, Decimal], target: str, rates: Rates, reserve: Decimal,
             notes: list[str]) -> list[str]:
    """Currencies above the reserve, largest EUR excess first (ties by code)."""
    ranked: list[tuple[Decimal, str]] = []
    for ccy, amount in bal.items():
        if ccy == target or amount <= reserve:
            continue
        try:
            ranked.append(((amount - reserve) * rates.eur_per(ccy), ccy))
        except LookupError:
            notes.append(f"no EUR rate for {ccy}: not used as an exchange source")
    ranked.sort(key=lambda item: (-item[0], item[1]))
    return [ccy for _, ccy in ranked]


def _sales(bal: dict[str, Decimal], checked: frozenset[str], holdings: Sequence[Holding],
           rates: Rates, is_open: Callable[[str], bool], reserve: Decimal,
           notes: list[str], bucket_cash: BucketCash) -> list[Sale]:
    short = shortfalls(bal, checked, reserve)
    # a bucket whose own cash is negative in a short currency sells its positions first
    first = {b for b, cash in bucket_cash.items() if any(cash.get(c, ZERO) < 0 for c in short)}
    need_eur = sum((v * rates.eur_per(c) for c, v in short.items()), ZERO)
    goal = need_eur * SELL_BUFFER
    candidates: list[tuple[bool, bool, Decimal, Holding, Decimal]] = []
    for h in holdings:
        if not h.allow_sell or h.quantity < 1 or h.price <= 0 or h.lot < 1:
            continue
        if not is_open(h.exchange):
            continue
        try:
            rate = rates.eur_per(h.currency)
        except LookupError:
            notes.append(f"no EUR rate for {h.currency}: {h.symbol} not sold")
            continue
        value_eur = h.quantity * h.price * rate
        candidates.append((h.bucket_id not in first, h.currency not in short, -value_eur, h,
                           rate))
    if not candidates:
        notes.append("no sellable position on an open market: sales skipped")
        return []
    candidates.sort(key=lambda c: (c[0], c[1], c[2], c[3].symbol, c[3].bucket_id))
    sales: list[Sale] = []
    sold = ZERO
    for _, _, neg_value, h, rate in candidates:
        if sold >= goal:
            break
        value_eur = min(-neg_value, goal - sold)
        units = value_eur / rate / h.price
        lots = int((units / h.lot).to_integral_value(rounding=ROUND_CEILING))
        held = int(h.quantity.to_integral_value(rounding=ROUND_FLOOR))
        quantity = min(lots * h.lot, held)
        if quantity <= 0:
            continue
        value = (quantity * h.price).quantize(CENT, rounding=ROUND_FLOOR)
        proceeds_eur = (value * rate).quantize(CENT, rounding=ROUND_FLOOR)
        sales.append(Sale(h.symbol, quantity, h.price, h.currency, h.exchange, value,
                          proceeds_eur, bucket_id=h.bucket_id))
        bal[h.currency] = bal.get(h.currency, ZERO) + value
        sold += proceeds_eur
    return sales


def plan_exchanges(step: Literal[1, 3], balances: Mapping[str, Decimal],
                   security_currencies: Iterable[str], rates: Rates,
                   reserve: Decimal = MIN_CURRENCY_RESERVE) -> tuple[list[Exchange],
                                                                     tuple[str, ...]]:
    """One exchange step on ``balances`` alone: the exchanges and notes."""
    bal = dict(balances)
    notes: list[str] = []
    actions = _exchange_step(step, bal, checked_currencies(bal, security_currencies), rates,
                             reserve, notes)
    return actions, tuple(notes)


def plan_sales(balances: Mapping[str, Decimal], security_currencies: Iterable[str],
               holdings: Sequence[Holding], rates: Rates, is_open: Callable[[str], bool],
               reserve: Decimal = MIN_CURRENCY_RESERVE, bucket_cash: BucketCash | None = None,
               ) -> tuple[list[Sale], tuple[str, ...]]:
    """Step 2 alone on ``balances`` (what exchanges could not cover): sales and notes.
    ``bucket_cash`` ({bucket: {currency: ledger cash}}) puts first the positions of a
    bucket whose own cash is negative in a short currency."""
    bal = dict(balances)
    checked = checked_currencies(bal, security_currencies)
    notes: list[str] = []
    if not shortfalls(bal, checked, reserve):
        return [], ()
    return _sales(bal, checked, holdings, rates, is_open, reserve, notes,
                  bucket_cash or {}), tuple(notes)


def recommendation_fields(sale: Sale) -> dict[str, object]:
    """The stored recommendation of an emergency sale (step 2 of the repair): priority 999, the
    emergency reason and portfolio hash, so the clean-up can dismiss it once the shortfall is
    gone."""
    return {"symbol": sale.symbol, "side": "SELL", "quantity": sale.quantity,
            "price": sale.price, "currency": sale.currency, "value_eur": sale.value_eur,
            "priority": EMERGENCY_PRIORITY, "reason": EMERGENCY_REASON,
            "portfolio_hash": EMERGENCY_PORTFOLIO_HASH}


def situation_key(initial_shortfalls: Mapping[str, Decimal]) -> str:
    """A stable digest of what a run repairs: each short currency and its shortfall to
    the cent. Another deposit, fill or charge changes the balances, so the situation."""
    text = ";".join(f"{c}={v.quantize(CENT, rounding=ROUND_CEILING)}"
                    for c, v in sorted(initial_shortfalls.items()))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def recommendation_key(situation: str, sale: Sale) -> str:
    """The stored key of an emergency sale: one per situation and position part."""
    return f"emergency:{situation}:{sale.symbol}:{sale.bucket_id}"


def plan_emergency(balances: Mapping[str, Decimal], security_currencies: Iterable[str],
                   holdings: Sequence[Holding], rates: Rates, is_open: Callable[[str], bool],
                   *, exchanges_enabled: bool = True,
                   reserve: Decimal = MIN_CURRENCY_RESERVE,
                   bucket_cash: BucketCash | None = None) -> EmergencyPlan:
    """Plan the three-step repair of negative/thin balances, in order (exchange, sell, re-check).

    ``exchanges_enabled`` is False in research mode (steps 1 and 3 are skipped, the
    sales are still planned and recorded). Each step works on the balances the previous
    steps would leave.
    """
    bal = dict(balances)
    checked = checked_currencies(bal, security_currencies)
    initial = shortfalls(bal, checked, reserve)
    notes: list[str] = []
    actions: list[Action] = []
    if not initial:
        return EmergencyPlan((), {}, {}, ("no shortfall",))
    if exchanges_enabled:
        actions += _exchange_step(1, bal, checked, rates, reserve, notes)
    else:
        notes.append("research mode: currency exchanges skipped")
    if shortfalls(bal, checked, reserve):
        actions += _sales(bal, checked, holdings, rates, is_open, reserve, notes,
                          bucket_cash or {})
        if exchanges_enabled:
            actions += _exchange_step(3, bal, checked, rates, reserve, notes)
    final = shortfalls(bal, checked, reserve)
    if final:
        notes.append(f"still short after all steps: {final}")
    return EmergencyPlan(tuple(actions), initial, final, tuple(notes))


def order_allowed(side: Literal["BUY", "SELL"], exchange: str,
                  is_open: Callable[[str], bool]) -> bool:
    """Market-hours gate: SELL needs the exchange open; BUY only on strict ones.

    ``is_open`` must answer False for an unknown exchange or a calendar error.
    """
    if side == "SELL" or exchange in STRICT_BUY_EXCHANGES:
        return is_open(exchange)
    return True


# -------------------------------------------------------------------------- triggers
@dataclass(frozen=True)
class TriggerResult:
    """Whether event-driven rebalancing should run, and every reason found."""

    triggered: bool
    reasons: tuple[str, ...]


def check_rebalance_triggers(position_values_eur: Mapping[str, Decimal],
                             targets: Mapping[str, Decimal], cash_eur: Decimal, *,
                             enabled: bool = True,
                             drift_threshold: Decimal = Decimal("0.05"),
                             cash_threshold_multiplier: Decimal = Decimal("2"),
                             min_trade_size: Decimal = Decimal("250")) -> TriggerResult:
    """Drift and cash triggers (when an event-driven rebalance is due).

    Weight = position EUR value / (Σ positions + cash); symbols checked = held ∪
    targeted (a missing target is 0, a targeted but unheld symbol has weight 0). A drift
    |weight − target| ≥ threshold triggers; else cash ≥ multiplier × minimum trade does.
    """
    if not enabled:
        return TriggerResult(False, ("event-driven rebalancing disabled",))
    total = sum(position_values_eur.values(), ZERO) + max(cash_eur, ZERO)
    reasons: list[str] = []
    if total > 0:
        for symbol in sorted(set(position_values_eur) | set(targets)):
            weight = position_values_eur.get(symbol, ZERO) / total
            target = targets.get(symbol, ZERO)
            if abs(weight - target) >= drift_threshold:
                reasons.append(f"{symbol} drift {weight - target:+.4f} (weight {weight:.4f}, "
                               f"target {target:.4f})")
    if not reasons:
        threshold = cash_threshold_multiplier * min_trade_size
        if cash_eur >= threshold:
            reasons.append(f"cash {cash_eur:.2f} EUR ≥ {threshold:.2f} EUR")
    return TriggerResult(bool(reasons), tuple(reasons))
