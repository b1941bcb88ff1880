"""Portfolio rules that act without a sequence search (pure): exits from a broken thesis,
trims of positions grown past the cap, and the deployment of idle cash.

They run on every plan, after the sequence search, in this order, and the first that
acts gives the plan (one step: the daemon executes step 1 and plans again):

1. **Thesis break** — a held position whose price fell ``thesis_break_drop`` below its
   52-week high or its average cost *and* whose score is below both
   ``thesis_break_max_score`` and the universe's median score is sold whole, at a loss
   and last lot included.
2. **Trim** — a position above the cap plus ``position_trim_band`` is sold down to the cap.
3. **The searched plan** — when its first step is one the executor would take (not a
   buy within ``buy_cooldown_days`` of a buy or ``rebuy_cooldown_days`` of a sell, not a
   sell within ``min_hold_days`` of a trade, nor of a holding whose trade history is not
   imported yet).
4. **Deploy** — cash above the reserve plus the tolerance (``deploy_tolerance_eur``,
   ``deploy_tolerance_fraction`` of the portfolio or ``deploy_min_trade_eur``, the
   largest: no deployment buys less than its minimum) buys the security furthest below
   its deployment target (equal weight blended with the optimiser's target by
   ``deploy_optimizer_blend``) among those no safety rule blocks, at least the minimum and
   the rest too when what would remain could not be deployed on its own (one fixed fee,
   not two); when every one is blocked, the plan says which rule blocked how many.

Every rule stops where the executor's safety checks would refuse (cooldowns, minimum
hold, the 52-week-high guardrail, the position cap), so a plan step is one the
executor takes.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace

from .models import Holding, PlanInput, PlannerSettings, PlanResult, Step
from .opportunities import Universe, near_52w_high, position_cap


@dataclass(frozen=True)
class RuleAction:
    """One trade a rule asks for."""

    index: int
    side: str
    quantity: int
    category: str
    reason: str


def _recent(days: float | None, limit: float) -> bool:
    return days is not None and days < limit


def _held_days(h: Holding | None) -> float | None:
    """Days since the last trade of a holding (None: unknown/never)."""
    if h is None:
        return None
    known = [d for d in (h.days_since_last_buy, h.days_since_last_sell) if d is not None]
    return min(known) if known else None


def sell_block(u: Universe, i: int, h: Holding | None, s: PlannerSettings) -> str | None:
    """Why the executor would refuse to sell security ``i`` now, or None."""
    if not u.securities[i].allow_sell:
        return "selling not allowed"
    if h is not None and not h.trade_history_known:
        return "hold time unknown: its trade history is not imported from the broker yet"
    if _recent(_held_days(h), s.min_hold_days):
        return f"traded within the {s.min_hold_days:g}-day minimum hold"
    return None


def buy_block(u: Universe, i: int, s: PlannerSettings, last_sell: float | None,
              cap: float) -> str | None:
    """Why a deployment buy of security ``i`` is refused now (a safety rule), or None."""
    sec = u.securities[i]
    if not sec.allow_buy:
        return "buying not allowed"
    if not u.price_eur[i] > 0:
        return "no price"
    if _recent(u.days_since_last_buy.get(sec.symbol), s.buy_cooldown_days):
        return "buy cooldown"
    if _recent(last_sell, s.rebuy_cooldown_days):
        return "rebuy cooldown after a sale"
    if near_52w_high(u, i, s):
        return "near the 52-week high"
    if u.total_eur > 0 and u.hold_qty[i] * u.price_eur[i] >= cap * u.total_eur:
        return "at the position cap"
    scored = u.scores[i]
    if scored is None:
        return "not scored"
    if scored.total < s.thesis_break_max_score:
        return "score below the thesis-break threshold"
    return None


def thesis_breaks(u: Universe, holdings: Mapping[str, Holding], s: PlannerSettings
                  ) -> list[RuleAction]:
    """Whole-position sells of collapsed securities whose score is below both the
    threshold and the universe's median score."""
    out: list[RuleAction] = []
    scored = sorted(sc.total for sc in u.scores if sc is not None)
    median = scored[len(scored) // 2] if scored else 0.0
    limit = min(s.thesis_break_max_score, median)
    for i, sec in enumerate(u.securities):
        qty = int(u.hold_qty[i])
        if qty <= 0 or u.scores[i] is None:
            continue
        score = u.score(i)
        price = u.price[i]
        high = u.high_52w[i]
        from_high = 1 - price / high if high > 0 else 0.0
        cost = u.avg_cost_eur[i]
        from_cost = 1 - u.price_eur[i] / cost if cost > 0 else 0.0
        drop = max(from_high, from_cost)
        if drop < s.thesis_break_drop or score >= limit:
            continue
        if sell_block(u, i, holdings.get(sec.symbol), s) is not None:
            continue
        out.append(RuleAction(i, "SELL", qty, "thesis_break",
                              f"thesis break: price {drop:.0%} below its 52-week high or "
                              f"cost and score {score:.2f} < {limit:.2f}; "
                              f"sell all {qty}"))
    return out


def trims(u: Universe, holdings: Mapping[str, Holding], s: PlannerSettings, cap: float
          ) -> list[RuleAction]:
    """Sells that bring positions above cap + band back to the cap."""
    out: list[RuleAction] = []
    if u.total_eur <= 0:
        return out
    for i, sec in enumerate(u.securities):
        value = u.hold_qty[i] * u.price_eur[i]
        weight = value / u.total_eur
        if weight <= cap + s.position_trim_band or u.price_eur[i] <= 0:
            continue
        if sell_block(u, i, holdings.get(sec.symbol), s) is not None:
            continue
        lot = max(1, sec.min_lot)
        qty = math.ceil((value - cap * u.total_eur) / u.price_eur[i] / lot) * lot
        qty = min(qty, int(u.hold_qty[i]))
        if qty > 0:
            out.append(RuleAction(i, "SELL", qty, "trim",
                                  f"trim: {weight:.1%} of the portfolio is above the cap "
                                  f"{cap:.1%} + band {s.position_trim_band:.1%}; sell {qty} "
                                  f"back to the cap"))
    out.sort(key=lambda a: -u.hold_qty[a.index] * u.price_eur[a.index])
    return out


def deployment_targets(u: Universe, s: PlannerSettings, optimiser: Mapping[str, float],
                       cap: float) -> list[float]:
    """Per security: equal weight of the priced securities blended with the optimiser's
    target (when it has targets), capped."""
    priced = [i for i in range(len(u.securities)) if u.price_eur[i] > 0]
    equal = 1.0 / len(priced) if priced else 0.0
    blend = s.deploy_optimizer_blend if optimiser else 0.0
    out = [0.0] * len(u.securities)
    for i in priced:
        w = (1 - blend) * equal + blend * optimiser.get(u.securities[i].symbol, 0.0)
        out[i] = min(cap, w)
    return out


def deployment(u: Universe, inp: PlanInput, cash_eur: float, reserve_eur: float,
               optimiser: Mapping[str, float], cap: float) -> RuleAction | str | None:
    """The deployment buy, a reason naming the rules that block every candidate, or None
    when the cash above the reserve is within the tolerance."""
    s = inp.settings
    tolerance = s.idle_cash_tolerance(u.total_eur)
    spare = cash_eur - reserve_eur
    if not s.deploy_enabled or not math.isfinite(spare) or spare <= tolerance \
            or not u.total_eur > 0:
        return None
    targets = deployment_targets(u, s, optimiser, cap)
    blocked: dict[str, int] = {}
    best: tuple[float, int] | None = None
    for i, sec in enumerate(u.securities):
        holding = next((h for h in inp.holdings if h.symbol == sec.symbol), None)
        last_sell = (holding.days_since_last_sell if holding is not None
                     and holding.days_since_last_sell is not None
                     else inp.days_since_last_sell.get(sec.symbol))
        why = buy_block(u, i, s, last_sell, cap)
        if why is not None:
            blocked[why] = blocked.get(why, 0) + 1
            continue
        gap = targets[i] - u.hold_qty[i] * u.price_eur[i] / u.total_eur
        if best is None or gap > best[0]:
            best = (gap, i)
    if best is None:
        rules = ", ".join(f"{why}: {n}" for why, n in sorted(blocked.items()))
        return (f"cash {spare:.0f} EUR above the reserve is not deployed: every candidate is "
                f"blocked by a safety rule ({rules})")
    gap, i = best
    price = u.price_eur[i]
    room = cap * u.total_eur - u.hold_qty[i] * price
    usable = spare / (1 + s.transaction_cost_percent) - s.transaction_cost_fixed
    want = max(gap * u.total_eur, s.deploy_min_trade_eur)
    if usable - want <= tolerance:
        want = usable  # the rest could not make a deployment of its own: one fee, not two
    budget = min(usable, want, room)
    lot = max(1, u.securities[i].min_lot)
    qty = int(budget / price / lot) * lot if price > 0 and math.isfinite(budget) else 0
    if qty <= 0:
        return (f"cash {spare:.0f} EUR above the reserve buys no whole lot of "
                f"{u.securities[i].symbol} (price {price:.2f} EUR)")
    return RuleAction(i, "BUY", qty, "deploy",
                      f"deploy: cash {spare:.0f} EUR above the reserve {reserve_eur:.0f} + "
                      f"tolerance {tolerance:.0f}; {u.securities[i].symbol} is "
                      f"{gap:+.1%} below its target {targets[i]:.1%}")


def executable_first_step(result: PlanResult, u: Universe, inp: PlanInput) -> str | None:
    """Why the executor would refuse step 1 of the searched plan, or None."""
    if result.status != "plan" or not result.steps:
        return None
    step = result.steps[0]
    s = inp.settings
    index = {sec.symbol: i for i, sec in enumerate(u.securities)}
    i = index.get(step.symbol)
    holding = next((h for h in inp.holdings if h.symbol == step.symbol), None)
    if i is None:
        return None
    if step.side == "SELL":
        return sell_block(u, i, holding, s)
    last_sell = (holding.days_since_last_sell if holding is not None else None) \
        or inp.days_since_last_sell.get(step.symbol)
    if _recent(last_sell, s.rebuy_cooldown_days):
        return "rebuy cooldown after a sale"
    return None


def _step(u: Universe, action: RuleAction, s: PlannerSettings) -> Step:
    i = action.index
    sec = u.securities[i]
    value = action.quantity * u.price_eur[i]
    sc = u.scores[i]
    return Step(1, "BUY" if action.side == "BUY" else "SELL", sec.symbol, sec.name or sec.symbol,
                action.quantity, float(u.price[i]), sec.currency, round(float(value), 2),
                round(s.transaction_cost_fixed + s.transaction_cost_percent * value, 2),
                action.category, 1.0, action.reason, 0.0, 0.0,
                sc.total if sc is not None else 0.0,
                sc.explain() if sc is not None else {"note": "not scored"})


def apply_rules(result: PlanResult, u: Universe, inp: PlanInput,
                optimiser: Mapping[str, float]) -> PlanResult:
    """``result`` replaced by the first rule that acts (see the module docstring)."""
    s = inp.settings
    cap = position_cap(s)
    holdings = {h.symbol: h for h in inp.holdings}
    for action in [*thesis_breaks(u, holdings, s), *trims(u, holdings, s, cap)][:1]:
        return replace(result, status="plan", reason=action.reason,
                       steps=(_step(u, action, s),))
    refused = executable_first_step(result, u, inp)
    if result.status == "plan" and refused is None:
        return result
    note = (f"searched plan's first step {result.steps[0].side} {result.steps[0].symbol} "
            f"is refused ({refused}); " if refused is not None else "")
    deploy = deployment(u, inp, inp.cash_eur, result.cash_reserve_eur, optimiser, cap)
    if isinstance(deploy, RuleAction):
        return replace(result, status="plan", reason=note + deploy.reason,
                       steps=(_step(u, deploy, s),))
    if refused is not None:
        return replace(result, status="nothing_to_do", steps=(),
                       reason=note + (deploy or "cash within the reserve and tolerance"))
    if isinstance(deploy, str):
        return replace(result, reason=f"{result.reason}; {deploy}")
    return result
