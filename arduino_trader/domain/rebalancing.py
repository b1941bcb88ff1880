"""Rebalancing toward the optimiser's target weights.

Pure and exact (``Decimal``): the targets are the account-level weights of the latest
plan — each bucket's optimiser weights (fractions of that bucket's value) times the
bucket's target share of the account — and the trades bring every symbol of the covered
buckets from its current EUR value toward ``target × total`` (total = positions + the
given cash). Sells come first (their net proceeds fund the buys), then buys by the
largest deficit, each in whole lots, within the cash, and only when worth at least the
minimum trade. A held symbol of a covered bucket without a target is sold (target 0); a
symbol of a bucket that did not plan is left alone. A sale is shared among the buckets
holding the symbol (each sells its own shares); a buy is the owning bucket's.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal

from arduino_trader.protocols.money import CENT, ZERO

ONE = Decimal(1)
CORE = "core"
WEIGHT_PLACES = Decimal("0.000001")


class MissingRate(LookupError):
    """A held position's currency has no EUR rate: the total is unknown (never 1:1)."""


@dataclass(frozen=True)
class RebalanceSecurity:
    """What a trade needs to know of a security; ``price`` in its own currency (the
    broker's price for a holding, else the latest stored quote); no ISIN = not tradable."""

    symbol: str
    isin: str | None
    currency: str
    price: Decimal | None
    lot: int = 1
    allow_buy: bool = True
    allow_sell: bool = True
    bucket_id: str = CORE


@dataclass(frozen=True)
class RebalanceTrade:
    """One trade toward the targets (EUR figures at the cent)."""

    symbol: str
    isin: str
    side: str
    quantity: int
    price: Decimal
    currency: str
    value_eur: Decimal
    cost_eur: Decimal
    current_weight: Decimal
    target_weight: Decimal
    bucket_id: str
    reason: str

    def to_dict(self) -> dict[str, object]:
        """JSON-ready form."""
        return {"symbol": self.symbol, "isin": self.isin, "side": self.side,
                "quantity": self.quantity, "price": self.price, "currency": self.currency,
                "value_eur": self.value_eur, "cost_eur": self.cost_eur,
                "current_weight": self.current_weight, "target_weight": self.target_weight,
                "bucket_id": self.bucket_id, "reason": self.reason}


@dataclass(frozen=True)
class RebalancePlan:
    """The trades (sells first) and the symbols left alone with the reason."""

    trades: tuple[RebalanceTrade, ...]
    skipped: tuple[tuple[str, str], ...]
    total_eur: Decimal
    cash_eur: Decimal


def account_targets(bucket_weights: Mapping[str, Mapping[str, float | Decimal]],
                    bucket_shares: Mapping[str, Decimal]) -> dict[str, Decimal]:
    """Account-level target weight per symbol: a bucket's optimiser weight × the bucket's
    target share of the account (core 1 when no share is known; another bucket without
    a share counts 0). Non-finite or negative weights are ignored."""
    out: dict[str, Decimal] = {}
    for bucket, weights in bucket_weights.items():
        share = bucket_shares.get(bucket, ONE if bucket == CORE else ZERO)
        for symbol, raw in weights.items():
            weight = Decimal(repr(raw)) if isinstance(raw, float) else Decimal(raw)
            if not weight.is_finite() or weight <= 0:
                continue
            out[symbol] = out.get(symbol, ZERO) + (weight * share).quantize(WEIGHT_PLACES)
    return out


def _eur(security: RebalanceSecurity, eur_per: Mapping[str, Decimal]) -> Decimal | None:
    rate = eur_per.get(security.currency)
    if security.price is None or security.price <= 0 or rate is None or rate <= 0:
        return None
    return security.price * rate


def _lots(amount_eur: Decimal, unit_eur: Decimal, lot: int) -> int:
    """Whole lots of ``unit_eur`` that fit in ``amount_eur``, as a share count."""
    lot = max(1, lot)
    if amount_eur <= 0:
        return 0
    return int((amount_eur / (unit_eur * lot)).to_integral_value(ROUND_FLOOR)) * lot


def _cost(value: Decimal, fixed: Decimal, pct: Decimal) -> Decimal:
    return (fixed + pct * value).quantize(CENT)


def split_sale(quantity: int, owner: str, holders: Mapping[str, Decimal], lot: int
               ) -> list[tuple[str, int]]:
    """A sale of ``quantity`` shared among the buckets holding the symbol ({bucket:
    quantity}): the owning bucket first, then the others by size, each at most its own
    whole lots; a rest the lots leave goes to the first part."""
    lot = max(1, lot)
    order = sorted(holders, key=lambda b: (b != owner, -holders[b], b))
    parts: list[tuple[str, int]] = []
    left = quantity
    for bucket in order:
        take = min(left, int(holders[bucket].to_integral_value(ROUND_FLOOR)) // lot * lot)
        if take > 0:
            parts.append((bucket, take))
            left -= take
    if not parts:
        return [(owner, quantity)]
    if left:
        parts[0] = (parts[0][0], parts[0][1] + left)
    return parts


def rebalance_trades(holdings: Mapping[str, Decimal],
                     securities: Mapping[str, RebalanceSecurity],
                     targets: Mapping[str, Decimal], cash_eur: Decimal,
                     eur_per: Mapping[str, Decimal], *, min_trade_eur: Decimal,
                     cost_fixed: Decimal, cost_pct: Decimal,
                     scope: Collection[str] | None = None,
                     bucket_holdings: Mapping[str, Mapping[str, Decimal]] | None = None
                     ) -> RebalancePlan:
    """The trades bringing ``holdings`` toward ``targets`` with ``cash_eur`` to spend.

    ``holdings``: symbol → quantity; every held symbol needs a priced security with an
    EUR rate (else :class:`MissingRate`: the total would be wrong). ``scope``: the symbols
    that may trade (None = all); others only count in the total. ``bucket_holdings``
    ({bucket: {symbol: quantity}}) splits a sale among the buckets that hold the symbol
    (:func:`split_sale`; a part below the minimum trade joins the first part), so each
    bucket sells its own shares; without it a sale is the owning bucket's.
    """
    values: dict[str, Decimal] = {}
    for symbol, amount in holdings.items():
        if amount == 0:
            continue
        sec = securities.get(symbol)
        unit = None if sec is None else _eur(sec, eur_per)
        if unit is None:
            raise MissingRate(f"no price or EUR rate for held {symbol}")
        values[symbol] = amount * unit
    cash = max(cash_eur, ZERO)
    total = sum(values.values(), ZERO) + cash
    skipped: list[tuple[str, str]] = []
    sells: list[RebalanceTrade] = []
    wants: list[tuple[Decimal, str, Decimal, Decimal]] = []
    if total <= 0:
        return RebalancePlan((), (), total, cash)
    for symbol in sorted(set(values) | {s for s, w in targets.items() if w > 0}):
        if scope is not None and symbol not in scope:
            skipped.append((symbol, "its bucket did not plan"))
            continue
        sec = securities.get(symbol)
        unit = None if sec is None else _eur(sec, eur_per)
        if sec is None or unit is None or not sec.isin:
            skipped.append((symbol, "unknown security, price or FX rate"))
            continue
        current = values.get(symbol, ZERO)
        target = targets.get(symbol, ZERO)
        delta = target * total - current
        weight = (current / total).quantize(WEIGHT_PLACES)
        if abs(delta) < min_trade_eur:
            continue
        if delta > 0:
            wants.append((delta, symbol, weight, target))
            continue
        if not sec.allow_sell:
            skipped.append((symbol, "selling not allowed"))
            continue
        held = holdings.get(symbol, ZERO)
        whole = int(held.to_integral_value(ROUND_FLOOR))
        qty = whole if target <= 0 else min(_lots(-delta, unit, sec.lot), whole)
        value = (qty * unit).quantize(CENT)
        if qty <= 0 or value < min_trade_eur:
            skipped.append((symbol, "sale below the minimum trade"))
            continue
        holders = {b: per[symbol] for b, per in (bucket_holdings or {}).items()
                   if per.get(symbol, ZERO) > 0}
        parts = split_sale(qty, sec.bucket_id, holders, sec.lot)
        small = [p for p in parts[1:] if p[1] * unit < min_trade_eur]
        parts = [p for p in parts if p not in small]
        parts[0] = (parts[0][0], parts[0][1] + sum(n for _, n in small))
        for bucket, part in parts:
            part_value = (part * unit).quantize(CENT)
            sells.append(RebalanceTrade(symbol, sec.isin, "SELL", part, sec.price or ZERO,
                                        sec.currency, part_value,
                                        _cost(part_value, cost_fixed, cost_pct), weight,
                                        target, bucket, f"rebalance: weight {weight} above "
                                        f"target {target}"))
    budget = cash + sum((t.value_eur - t.cost_eur for t in sells), ZERO)
    buys: list[RebalanceTrade] = []
    for delta, symbol, weight, target in sorted(wants, key=lambda w: (-w[0], w[1])):
        sec = securities[symbol]
        unit = _eur(sec, eur_per)
        assert unit is not None and sec.isin  # checked above
        if not sec.allow_buy:
            skipped.append((symbol, "buying not allowed"))
            continue
        room = min(delta, budget - cost_fixed) / (ONE + cost_pct)
        qty = _lots(room, unit, sec.lot)
        value = (qty * unit).quantize(CENT)
        if qty <= 0 or value < min_trade_eur:
            skipped.append((symbol, "not enough cash for a minimum trade"))
            continue
        cost = _cost(value, cost_fixed, cost_pct)
        if value + cost > budget:
            skipped.append((symbol, "not enough cash for a minimum trade"))
            continue
        budget -= value + cost
        buys.append(RebalanceTrade(symbol, sec.isin, "BUY", qty, sec.price or ZERO,
                                   sec.currency, value, cost, weight, target, sec.bucket_id,
                                   f"rebalance: weight {weight} below target {target}"))
    sells.sort(key=lambda t: (-t.value_eur, t.symbol, t.bucket_id))
    return RebalancePlan(tuple(sells + buys), tuple(skipped), total, cash)


__all__ = ["MissingRate", "RebalancePlan", "RebalanceSecurity", "RebalanceTrade",
           "account_targets", "rebalance_trades", "split_sale"]
