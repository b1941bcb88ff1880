"""Dividends and DRIP: detection, reinvestment planning with the
minimum trade and the 3 % yield rule, pending bonuses, fills consumed at most once, and
dividend-history analytics.

Money is ``Decimal``. Each dividend tracks ``allocated_eur``: the euros of it already
consumed by confirmed fills; only the remainder is ever planned again, so a euro is
spent at most once, and a dividend is marked reinvested only after a confirmed fill has
consumed it entirely.
"""

from __future__ import annotations

import itertools
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date
from decimal import ROUND_FLOOR, Decimal

from arduino_trader.protocols.money import CENT, ZERO, round_money

DRIP_MIN_YIELD = Decimal("0.03")
MAX_BONUS = Decimal("0.05")
SYMBOL_PARAMS = ("symbol", "ticker", "isin", "stock_symbol")
Handling = str  # reinvest_same | send_to_core | accumulate_cash


class DripError(ValueError):
    """A fill that cannot be applied (unknown dividend, bad quantity or cost)."""


def dividend_symbol(params: Mapping[str, object]) -> str | None:
    """The instrument of a dividend cash flow: first non-empty of symbol, ticker, isin,
    stock_symbol; None when there is none (the dividend is then skipped with a warning)."""
    for key in SYMBOL_PARAMS:
        value = params.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None


def is_dividend_type(transaction_type: str) -> bool:
    """Cash-flow types that create a dividend record (contains "dividend", or coupon)."""
    lowered = transaction_type.lower()
    return "dividend" in lowered or lowered == "coupon"


@dataclass(frozen=True)
class Dividend:
    """One unreinvested (or partly consumed) dividend as DRIP sees it."""

    id: int
    symbol: str
    amount_eur: Decimal
    payment_date: date
    bucket_id: str = "core"
    handling: Handling = "reinvest_same"
    allocated_eur: Decimal = ZERO
    reinvested: bool = False
    consumed_fills: frozenset[str] = frozenset()

    @property
    def remaining_eur(self) -> Decimal:
        """Euros of this dividend not yet consumed by a fill."""
        return max(ZERO, self.amount_eur - self.allocated_eur)


@dataclass(frozen=True)
class Instrument:
    """Price facts of a security for a DRIP buy: price in its own currency, its lot."""

    symbol: str
    price: Decimal
    currency: str
    lot: int = 1


@dataclass(frozen=True)
class DripBuy:
    """A planned reinvestment: buy ``quantity`` of ``symbol`` for ``bucket_id``.

    ``funding`` lists (dividend id, euros) reserved, oldest first, summing to
    ``cost_eur``; nothing is consumed until :func:`apply_fill` sees a confirmed fill.
    """

    bucket_id: str
    symbol: str
    quantity: int
    price: Decimal
    currency: str
    cost_eur: Decimal
    funding: tuple[tuple[int, Decimal], ...]


@dataclass(frozen=True)
class PendingBonus:
    """Cash left waiting for a symbol: ``pending_cash_eur`` per dividend."""

    dividend_id: int
    symbol: str
    pending_cash_eur: Decimal


@dataclass(frozen=True)
class DripPlan:
    """Buys to execute, pending bonuses to store, and why groups were skipped."""

    buys: tuple[DripBuy, ...]
    pending: tuple[PendingBonus, ...]
    skipped: tuple[tuple[str, str], ...]


def plan_reinvestment(dividends: Sequence[Dividend], *, min_trade: Decimal,
                      yields: Mapping[str, Decimal | None],
                      instruments: Mapping[str, Instrument],
                      eur_per: Callable[[str], Decimal],
                      bucket_cash_eur: Mapping[str, Decimal],
                      today: date) -> DripPlan:
    """Plan the ``dividend_reinvestment`` job.

    A dividend paid after ``today`` is not reinvested yet (skipped: its cash is not
    there). Dividends are grouped by (owning bucket, symbol), oldest first; ``accumulate_cash``
    ones are skipped (their bucket keeps the cash); a group whose remaining euros are
    below ``min_trade`` becomes pending bonus; a group whose yield is missing or below
    3 % becomes pending bonus; otherwise the same security is bought: quantity = the
    whole lots the euros (capped by the bucket's cash) buy at the price converted via FX
    — rounded down, never up to a lot it cannot afford. ``eur_per`` raises for a missing
    rate (the group is then skipped, never converted 1:1).
    """
    groups: OrderedDict[tuple[str, str], list[Dividend]] = OrderedDict()
    skipped: list[tuple[str, str]] = []
    for d in sorted(dividends, key=lambda d: (d.payment_date, d.id)):
        if d.reinvested or d.remaining_eur <= 0:
            continue
        if d.payment_date > today:
            skipped.append((d.symbol, f"dividend {d.id} is paid on {d.payment_date}: not yet"))
            continue
        groups.setdefault((d.bucket_id, d.symbol), []).append(d)
    buys: list[DripBuy] = []
    pending: list[PendingBonus] = []
    cash_left = dict(bucket_cash_eur)
    for (bucket, symbol), group in groups.items():
        if any(d.handling == "accumulate_cash" for d in group):
            skipped.append((symbol, f"bucket {bucket} accumulates dividend cash"))
            continue
        total = sum((d.remaining_eur for d in group), ZERO)

        def park(reason: str, group: list[Dividend] = group, symbol: str = symbol) -> None:
            pending.extend(PendingBonus(d.id, symbol, d.remaining_eur) for d in group)
            skipped.append((symbol, reason))

        if total < min_trade:
            park(f"{total} EUR below the minimum trade {min_trade}")
            continue
        dividend_yield = yields.get(symbol)
        if dividend_yield is None or dividend_yield < DRIP_MIN_YIELD:
            park(f"yield {dividend_yield} below {DRIP_MIN_YIELD}")
            continue
        inst = instruments.get(symbol)
        if inst is None or inst.price <= 0 or inst.lot < 1:
            park("no usable price")
            continue
        try:
            rate = eur_per(inst.currency)
        except LookupError as exc:
            park(f"no FX rate: {exc}")
            continue
        budget = min(total, cash_left.get(bucket, ZERO))
        lot_cost_eur = inst.price * inst.lot * rate
        lots = int((budget / lot_cost_eur).to_integral_value(rounding=ROUND_FLOOR))
        quantity = lots * inst.lot
        cost = round_money(quantity * inst.price * rate)
        if quantity <= 0 or cost > budget or cost < min_trade:
            park("the euros do not buy a whole lot worth the minimum trade")
            continue
        cash_left[bucket] = cash_left.get(bucket, ZERO) - cost
        buys.append(DripBuy(bucket, symbol, quantity, inst.price, inst.currency, cost,
                            _fund(group, cost)))
    return DripPlan(tuple(buys), tuple(pending), tuple(skipped))


def _fund(group: Sequence[Dividend], cost: Decimal) -> tuple[tuple[int, Decimal], ...]:
    """Reserve ``cost`` euros from the group, oldest dividend first."""
    funding: list[tuple[int, Decimal]] = []
    left = cost
    for d in group:
        if left <= 0:
            break
        take = min(d.remaining_eur, left)
        funding.append((d.id, take))
        left -= take
    return tuple(funding)


@dataclass(frozen=True)
class Consumption:
    """One ``dividend_allocations`` row: euros of a dividend consumed by one fill
    (UNIQUE(dividend_id, fill_key) in the store)."""

    dividend_id: int
    fill_key: str
    amount_eur: Decimal
    quantity: Decimal


def apply_fill(dividends: Mapping[int, Dividend], buy: DripBuy, fill_key: str,
               filled_quantity: Decimal, fill_cost_eur: Decimal,
               ) -> tuple[dict[int, Dividend], tuple[Consumption, ...]]:
    """Consume dividend euros for a confirmed fill of ``buy``.

    ``fill_key`` identifies the broker fill (trade id); a fill already consumed by a
    dividend is ignored, so applying the same fill twice spends nothing twice. The
    consumed euros are the fill's EUR cost (at most the planned cost), taken from the
    plan's funding oldest first and never more than a dividend's remaining euros; a
    dividend becomes ``reinvested`` when fully consumed. Returns the changed dividends
    and the consumption rows to store.
    """
    if filled_quantity <= 0 or filled_quantity > buy.quantity:
        raise DripError(f"fill of {filled_quantity} outside (0, {buy.quantity}]")
    if fill_cost_eur <= 0:
        raise DripError("fill cost must be positive")
    if not fill_key:
        raise DripError("a fill needs its broker key")
    to_consume = min(round_money(fill_cost_eur), buy.cost_eur)
    changed: dict[int, Dividend] = {}
    rows: list[Consumption] = []
    for dividend_id, reserved in buy.funding:
        if to_consume <= 0:
            break
        d = dividends.get(dividend_id)
        if d is None:
            raise DripError(f"dividend {dividend_id} unknown")
        if fill_key in d.consumed_fills:
            continue
        take = min(reserved, to_consume, d.remaining_eur)
        if take <= 0:
            continue
        allocated = d.allocated_eur + take
        changed[dividend_id] = replace(d, allocated_eur=allocated,
                                       reinvested=allocated >= d.amount_eur,
                                       consumed_fills=d.consumed_fills | {fill_key})
        rows.append(Consumption(dividend_id, fill_key, take, filled_quantity))
        to_consume -= take
    return changed, tuple(rows)


def pending_bonus(pending_cash_eur: Decimal, position_value_eur: Decimal,
                  min_trade: Decimal) -> Decimal:
    """Expected-return bonus of a symbol's pending dividend cash (a dividend too small to reinvest):
    min(pending / max(position value, minimum trade), 0.05); 0 without pending cash."""
    if pending_cash_eur <= 0:
        return ZERO
    base = max(position_value_eur, min_trade)
    if base <= 0:
        return ZERO
    return min(pending_cash_eur / base, MAX_BONUS)


def clear_bonus(rows: Sequence[PendingBonus], symbol: str) -> tuple[PendingBonus, ...]:
    """Rows of ``symbol`` with their pending cash cleared (after buying it)."""
    return tuple(replace(r, pending_cash_eur=ZERO) for r in rows if r.symbol == symbol)


# ------------------------------------------------------------------------- analytics
def stability_score(annual_per_share: Mapping[int, Decimal], current_year: int,
                    dividend_yield: float | None, portfolio_avg_yield: float = 0.03) -> float:
    """Dividend stability in [0, 1], 3 decimals, from per-share totals per year.

    Base 0.5; the most recent year-over-year cut > 20 % costs 0.40 (within 2 years),
    0.25 (within 5) or 0.10 (older); no cut over ≥ 5 / ≥ 3 years adds 0.15 / 0.10;
    dividend CAGR ≥ 5 % / 2 % / 0 adds 0.30 / 0.20 / 0.10; a yield ≥ 1.5× / ≥ 1× the
    portfolio average adds 0.30 / 0.15.
    """
    score = 0.5
    years = sorted(y for y, v in annual_per_share.items() if v > 0)
    last_cut: int | None = None
    for prev, year in itertools.pairwise(years):
        before, now = annual_per_share[prev], annual_per_share[year]
        if now < before * Decimal("0.8"):
            last_cut = year
    if last_cut is not None:
        age = current_year - last_cut
        score -= 0.40 if age <= 2 else 0.25 if age <= 5 else 0.10
    elif len(years) >= 5:
        score += 0.15
    elif len(years) >= 3:
        score += 0.10
    if len(years) >= 2:
        first, last = float(annual_per_share[years[0]]), float(annual_per_share[years[-1]])
        span = years[-1] - years[0]
        cagr = (last / first) ** (1 / span) - 1 if span > 0 and first > 0 else None
        if cagr is not None:
            score += 0.30 if cagr >= 0.05 else 0.20 if cagr >= 0.02 else 0.10 if cagr >= 0 \
                else 0.0
    if dividend_yield is not None and portfolio_avg_yield > 0:
        if dividend_yield >= 1.5 * portfolio_avg_yield:
            score += 0.30
        elif dividend_yield >= portfolio_avg_yield:
            score += 0.15
    return round(min(1.0, max(0.0, score)), 3)


def payout_ratio_stability(payout_ratio: float | None) -> float:
    """Stability estimate from the payout ratio when there is no history."""
    if payout_ratio is None:
        return 0.50
    if 0.30 <= payout_ratio <= 0.60:
        return 0.85
    if 0.20 <= payout_ratio < 0.30:
        return 0.70
    if 0.60 < payout_ratio <= 0.80:
        return 0.60
    if payout_ratio > 0.80:
        return 0.40
    return 0.50


def is_consistent(dividend_yield: float | None, stability: float) -> bool:
    """A consistent payer: positive yield and stability ≥ 0.60."""
    return dividend_yield is not None and dividend_yield > 0 and stability >= 0.60


@dataclass(frozen=True)
class HistoryRow:
    """A ``dividend_history`` row as the analytics need it."""

    symbol: str
    amount_eur: Decimal
    reinvested: bool


def totals_by_symbol(rows: Sequence[HistoryRow]) -> dict[str, Decimal]:
    """Σ EUR per symbol."""
    totals: dict[str, Decimal] = {}
    for r in rows:
        totals[r.symbol] = totals.get(r.symbol, ZERO) + r.amount_eur
    return {s: v.quantize(CENT) for s, v in sorted(totals.items())}


def reinvestment_rate(rows: Sequence[HistoryRow]) -> Decimal:
    """Reinvested EUR / total EUR (0 when there is none), 4 decimals."""
    total = sum((r.amount_eur for r in rows), ZERO)
    if total <= 0:
        return ZERO
    done = sum((r.amount_eur for r in rows if r.reinvested), ZERO)
    return (done / total).quantize(Decimal("0.0001"))
