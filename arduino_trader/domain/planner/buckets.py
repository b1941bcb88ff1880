"""Per-bucket planning: one account's planning input cut into
one input per bucket, and each bucket's result made its own.

A bucket plans over its own securities (a symbol belongs to exactly one bucket: its
``security_buckets`` row, else core) and its own positions (the fills attributed to it,
core the rest — ``domain/satellites/positions``; a position in another bucket's symbol
may be sold, never bought), with its own cash. A satellite plans with its mapped
parameters: hold duration → minimum hold days, maximum position size → per-security
weight cap, follow-regime → regime detection, ``max_positions`` → no buy opens a position
beyond it, ``stop_loss_pct`` → a holding that fell that far below the bucket's own
average cost (its fills; else the account's) is proposed for sale first, with that
reason, once past the minimum hold (the stop-loss does not override it). Its buys are
then scaled by its effective aggression and floored to whole lots (sells never scaled;
a buy scaled to zero is dropped), reasons prefixed ``[<bucket>]``.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, replace
from decimal import Decimal

import numpy as np

from arduino_trader.protocols.satellite_records import CORE_ID

from ..satellites.aggression import scale_buy
from ..satellites.parameters import SatelliteParameters
from ..satellites.planning import PlanScope
from .models import Holding, PlanInput, PlannerSettings, PlanResult, SecurityInfo, Step


@dataclass(frozen=True)
class BucketPlan:
    """A bucket's planning result."""

    bucket_id: str
    result: PlanResult


def bucket_settings(base: PlannerSettings, params: SatelliteParameters | None
                    ) -> PlannerSettings:
    """The planner knobs of a bucket: core keeps ``base``; a satellite's hold duration
    and regime preference replace the global ones."""
    if params is None:
        return base
    return replace(base, min_hold_days=float(params.target_hold_days),
                   market_regime_detection_enabled=bool(params.follow_regime))


def _scoped_security(sec: SecurityInfo, cap: float | None, buyable: bool) -> SecurityInfo:
    if not buyable:
        sec = replace(sec, allow_buy=False)
    if cap is None:
        return sec
    limit = cap if sec.max_target is None else min(sec.max_target, cap)
    return replace(sec, max_target=limit,
                   min_target=None if sec.min_target is None else min(sec.min_target, limit))


def own_holdings(holdings: Collection[Holding], symbols: Collection[str],
                 positions: Mapping[str, Decimal] | None,
                 avg_costs: Mapping[str, Decimal] | None = None) -> list[Holding]:
    """The bucket's holdings: its ``positions`` (never above the account's quantity; a
    symbol the account does not hold is dropped), or without them the account's holdings
    in ``symbols``; at the bucket's own average cost where ``avg_costs`` knows it."""
    costs = avg_costs or {}
    if positions is None:
        own = [h for h in holdings if h.symbol in symbols]
    else:
        account = {h.symbol: h for h in holdings}
        own = []
        for symbol, qty in sorted(positions.items()):
            held = account.get(symbol)
            quantity = 0.0 if held is None else min(float(qty), held.quantity)
            if held is not None and quantity > 0:
                own.append(replace(held, quantity=quantity))
    return [replace(h, avg_price=float(costs[h.symbol])) if costs.get(h.symbol, 0) > 0
            else h for h in own]


def scoped_input(inp: PlanInput, symbols: Collection[str], cash_eur: float,
                 params: SatelliteParameters | None = None,
                 positions: Mapping[str, Decimal] | None = None,
                 avg_costs: Mapping[str, Decimal] | None = None) -> PlanInput:
    """``inp`` restricted to the bucket: its ``symbols`` plus the symbols it holds
    (``positions``; None = the account's holdings in ``symbols``; at its own
    ``avg_costs``) — held symbols outside ``symbols`` can only be sold —, with
    ``cash_eur`` and the bucket's settings. A satellite holding ``max_positions`` symbols
    already may not buy a new one."""
    holdings = own_holdings(inp.holdings, symbols, positions, avg_costs)
    held = {h.symbol for h in holdings}
    full = params is not None and len(held) >= params.max_positions
    keep = [i for i, s in enumerate(inp.securities) if s.symbol in symbols or s.symbol in held]
    cap = float(params.position_size_max) if params is not None else None
    securities = [_scoped_security(inp.securities[i], cap,
                                   inp.securities[i].symbol in symbols
                                   and not (full and inp.securities[i].symbol not in held))
                  for i in keep]
    prices = np.asarray(inp.prices, dtype=np.float64)
    rows = prices[keep] if prices.ndim == 2 and prices.shape[0] == len(inp.securities) \
        else np.zeros((0, prices.shape[1] if prices.ndim == 2 else 0))
    names = {s.symbol for s in securities}
    return replace(
        inp, securities=securities, prices=rows,
        holdings=[h for h in holdings if h.symbol in names], cash_eur=cash_eur,
        days_since_last_buy={k: v for k, v in inp.days_since_last_buy.items() if k in names},
        days_since_last_sell={k: v for k, v in inp.days_since_last_sell.items()
                              if k in names},
        settings=bucket_settings(inp.settings, params))


def own_result(bucket_id: str, result: PlanResult, buy_scale: Decimal,
               lots: dict[str, int], settings: PlannerSettings) -> PlanResult:
    """``result`` made the bucket's: buys scaled by ``buy_scale`` to whole lots (a buy
    scaled to 0 is dropped, steps renumbered), reasons prefixed ``[<bucket>]`` for a
    satellite. Core with scale 1 is returned unchanged."""
    if bucket_id == CORE_ID and buy_scale >= 1:
        return result
    steps: list[Step] = []
    for s in result.steps:
        qty = s.quantity
        value, cost = s.estimated_value_eur, s.cost_eur
        note = ""
        if s.side == "BUY" and buy_scale < 1:
            qty = int(scale_buy(Decimal(s.quantity), lots.get(s.symbol, 1), buy_scale))
            if qty <= 0:
                continue
            if qty != s.quantity:
                value = round(s.estimated_value_eur * qty / s.quantity, 2)
                cost = round(settings.transaction_cost_fixed
                             + settings.transaction_cost_percent * value, 2)
                note = f" (scaled {s.quantity}→{qty} by aggression {buy_scale})"
        reason = s.reason + note
        if bucket_id != CORE_ID:
            reason = f"[{bucket_id}] {reason}"
        steps.append(replace(s, step=len(steps) + 1, quantity=qty,
                             estimated_value_eur=value, cost_eur=cost, reason=reason))
    if result.status == "plan" and not steps:
        return replace(result, status="nothing_to_do", steps=(),
                       reason=f"every buy scaled to 0 by aggression {buy_scale}: "
                       f"{result.reason}")
    return replace(result, steps=tuple(steps))


def _last_price(row: np.ndarray) -> float | None:
    finite = row[np.isfinite(row) & (row > 0)]
    return float(finite[-1]) if finite.size else None


def within_min_hold(h: Holding, settings: PlannerSettings) -> bool:
    """The minimum hold every planned sell respects, the stop-loss's included (only
    emergency rebalancing may bypass it): fewer than ``min_hold_days`` (a satellite's
    hold duration) since the last buy, or a hold time that is unknown (its trade history
    not imported yet); a buy older than the imported history allows the sale."""
    if not h.trade_history_known:
        return True
    return h.days_since_last_buy is not None and h.days_since_last_buy < settings.min_hold_days


def stop_loss_steps(inp: PlanInput, stop_loss_pct: Decimal, bucket_id: str,
                    result: PlanResult, held_back: list[str] | None = None) -> list[Step]:
    """A SELL of every sellable holding whose last close is ``stop_loss_pct`` or more
    below its average cost (whole lots of the holding), reason naming the stop-loss; a
    holding within the minimum hold is not sold (its symbol goes to ``held_back``)."""
    settings = inp.settings
    rows = {s.symbol: i for i, s in enumerate(inp.securities)}
    prices = np.asarray(inp.prices, dtype=np.float64)
    stop = float(stop_loss_pct)
    steps: list[Step] = []
    for h in inp.holdings:
        i = rows.get(h.symbol)
        if i is None or h.avg_price <= 0 or prices.ndim != 2 or i >= prices.shape[0]:
            continue
        sec = inp.securities[i]
        price = _last_price(prices[i])
        lot = max(1, sec.min_lot)
        qty = int(h.quantity) // lot * lot
        if not sec.allow_sell or price is None or qty <= 0 or sec.fx_rate <= 0:
            continue
        change = price / h.avg_price - 1
        if change > -stop:
            continue
        if within_min_hold(h, settings):
            if held_back is not None:
                held_back.append(sec.symbol)
            continue
        value = round(qty * price / sec.fx_rate, 2)
        reason = (f"Sell {qty} {sec.symbol}: stop-loss, {change:+.1%} from the average cost "
                  f"{h.avg_price:.2f} {sec.currency} (limit -{stop:.1%})")
        steps.append(Step(0, "SELL", sec.symbol, sec.name, qty, price, sec.currency, value,
                          round(settings.transaction_cost_fixed
                                + settings.transaction_cost_percent * value, 2),
                          "stop_loss", 1.0,
                          reason if bucket_id == CORE_ID else f"[{bucket_id}] {reason}",
                          result.current_score, result.current_score, 0.0, {}))
    return steps


def apply_limits(bucket_id: str, result: PlanResult, inp: PlanInput,
                 params: SatelliteParameters | None) -> PlanResult:
    """A satellite's stop-loss sales first (other steps in those symbols dropped), then
    the plan's steps without any buy that would hold more than ``max_positions`` symbols
    (a sale of a whole holding frees its slot). Core (no parameters) is unchanged."""
    if params is None:
        return result
    held_back: list[str] = []
    stops = stop_loss_steps(inp, params.stop_loss_pct, bucket_id, result, held_back)
    stopped = {s.symbol for s in stops}
    qty = {h.symbol: h.quantity for h in inp.holdings}
    for s in stops:
        qty[s.symbol] -= s.quantity
    count = sum(1 for q in qty.values() if q > 0)
    kept: list[Step] = []
    dropped = 0
    for s in result.steps:
        if s.symbol in stopped:
            continue
        before = qty.get(s.symbol, 0.0)
        if s.side == "SELL":
            qty[s.symbol] = before - s.quantity
            count -= 1 if before > 0 >= qty[s.symbol] else 0
        elif before <= 0 and count >= params.max_positions:
            dropped += 1
            continue
        else:
            qty[s.symbol] = before + s.quantity
            count += 1 if before <= 0 else 0
        kept.append(s)
    if not stops and not dropped and not held_back:
        return result
    steps = tuple(replace(s, step=n) for n, s in enumerate([*stops, *kept], start=1))
    notes = ([f"{len(stops)} stop-loss sale(s) at -{params.stop_loss_pct:.1%}"] if stops
             else []) + ([f"{dropped} buy(s) beyond {params.max_positions} positions dropped"]
                         if dropped else []) + (
        [f"stop-loss of {', '.join(held_back)} held back: within the minimum hold of "
         f"{inp.settings.min_hold_days:.0f} days"] if held_back else [])
    reason = "; ".join([*notes, result.reason])
    if not steps:
        return replace(result, status="nothing_to_do", steps=(), reason=reason)
    return replace(result, status="plan", steps=steps, reason=reason)


def plan_bucket(inp: PlanInput, scope: PlanScope, plan_fn: Callable[[PlanInput], PlanResult],
                extra_cash_eur: float = 0.0) -> PlanResult:
    """One bucket's plan: its scoped input planned by ``plan_fn``, made its own
    (:func:`own_result`) with its limits applied (:func:`apply_limits`)."""
    scoped = scoped_input(inp, scope.symbols, float(scope.cash_eur) + extra_cash_eur,
                          scope.parameters, scope.positions, scope.avg_costs)
    lots = {s.symbol: s.min_lot for s in inp.securities}
    result = own_result(scope.bucket_id, plan_fn(scoped), scope.buy_scale, lots,
                        scoped.settings)
    return apply_limits(scope.bucket_id, result, scoped, scope.parameters)


__all__ = ["BucketPlan", "apply_limits", "bucket_settings", "own_holdings", "own_result",
           "plan_bucket", "scoped_input", "stop_loss_steps", "within_min_hold"]
