"""Opportunity calculators : candidate trades per category.

Every calculator emits priorities in [0, 1]; the security's ``priority_multiplier`` (set
per security by the owner) multiplies buy and divides sell priority. Gates: buys need
allow_buy, a known price, no buy within the cooldown, a score ≥ ``min_security_score`` and
a price below 95 % of the 52-week high; optimiser-driven (weight-based) buys must also
pass the quality gates of :mod:`.gates` (``Universe.optimiser_gate``); no buy takes a
position above the executor's 15 % guardrail. Sells need a sell-eligible position
(:mod:`..scoring.sell`).
Each category keeps its top N, by priority or spread over country/industry clusters
(diverse selection, :mod:`.filters`).
Sizes are whole lots; values in EUR.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from ..scoring.curves import clamp
from ..scoring.scorers import SecurityScore
from ..scoring.sell import SellScore, Windfall
from .filters import cluster_key, diverse_select
from .models import Candidate, Category, PlannerSettings, SecurityInfo

F64 = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Universe:
    """Per-security state of one planning run (arrays aligned with ``securities``)."""

    securities: Sequence[SecurityInfo]
    price: F64
    price_eur: F64
    hold_qty: F64
    avg_cost_eur: F64
    high_52w: F64
    scores: Sequence[SecurityScore | None]
    sell_scores: Mapping[int, SellScore]
    windfalls: Mapping[int, Windfall]
    country_group: Sequence[str]
    group_current: Mapping[str, float]
    group_targets: Mapping[str, float]
    invested_eur: float
    total_eur: float
    spendable_eur: float
    days_since_last_buy: Mapping[str, float]
    optimiser_gate: Mapping[int, str] = field(default_factory=dict)  # quality-gate refusals
    industries: Sequence[Sequence[str]] = ()

    def score(self, i: int) -> float:
        """Total security score (0 when unscored)."""
        s = self.scores[i]
        return s.total if s is not None else 0.0


def base_trade_eur(s: PlannerSettings) -> float:
    """The minimum worthwhile trade in force (``PlannerSettings.min_trade_eur``)."""
    return s.min_trade_eur


def lots_for(value_eur: float, price_eur: float, min_lot: int) -> int:
    """Whole lots worth about ``value_eur`` (at least one lot)."""
    lot = max(1, min_lot)
    if price_eur <= 0 or not math.isfinite(price_eur):
        return 0
    n = math.floor(value_eur / price_eur / lot) * lot
    return max(lot, n)


def optimiser_buy_refusal(u: Universe, i: int, s: PlannerSettings) -> str | None:
    """Why an optimiser-driven buy of security ``i`` is refused (the buy gates, then the
    quality gates of :mod:`.gates`), or ``None``."""
    return _buy_allowed(u, i, s) or u.optimiser_gate.get(i)


POSITION_MARGIN = 0.99  # below the guardrail after the limit-price buffer


def position_cap(s: PlannerSettings) -> float:
    """Largest share of the portfolio a buy may take a position to: the executor's
    position guardrail, which it checks at the limit price (the quote × (1 +
    ``limit_order_buffer``)), with a 1 % margin (0.98 of it at the default 1 % buffer)."""
    return s.max_position_fraction * POSITION_MARGIN / (1 + s.limit_order_buffer)


def _too_big(u: Universe, i: int, qty: int, s: PlannerSettings) -> bool:
    after = (u.hold_qty[i] + qty) * u.price_eur[i]
    return u.total_eur > 0 and after > position_cap(s) * u.total_eur


def _top(u: Universe, cands: list[Candidate], n: int, s: PlannerSettings) -> list[Candidate]:
    """The category's top ``n``: by priority, or spread over clusters (diverse selection)."""
    if not s.enable_diverse_selection:
        return sorted(cands, key=lambda c: -c.priority)[:n]

    def cluster(c: Candidate) -> str:
        sec = u.securities[c.index]
        inds = u.industries[c.index] if u.industries else ()
        return cluster_key(sec.symbol, u.country_group[c.index] if sec.country else None, inds)

    return diverse_select(cands, n, cluster, s.diversity_weight)


def near_52w_high(u: Universe, i: int, s: PlannerSettings) -> bool:
    """Whether the 52-week-high guardrail refuses a buy of security ``i`` (the executor
    applies the same ``max_buy_vs_52w_high``; at 1 it refuses nothing)."""
    limit = s.max_buy_vs_52w_high
    return limit < 1 and u.high_52w[i] > 0 and u.price[i] > limit * u.high_52w[i]


def _buy_allowed(u: Universe, i: int, s: PlannerSettings) -> str | None:
    sec = u.securities[i]
    if not sec.allow_buy:
        return "buying not allowed"
    if not (u.price_eur[i] > 0):
        return "no price"
    days = u.days_since_last_buy.get(sec.symbol)
    if days is not None and days < s.buy_cooldown_days:
        return "bought recently"
    if u.score(i) < s.min_security_score:
        return "score below minimum"
    if near_52w_high(u, i, s):
        return "near the 52-week high"
    return None


def _technical(u: Universe, i: int, side: str) -> float:
    sc = u.score(i)
    return sc if side == "BUY" else 0.5 + 0.3 * sc


def _cand(u: Universe, i: int, side: str, qty: int, category: Category, priority: float,
          reason: str, windfall_value: float) -> Candidate:
    sec = u.securities[i]
    return Candidate(i, sec.symbol, "BUY" if side == "BUY" else "SELL", int(qty),
                     float(u.price[i]), float(u.price_eur[i]), sec.currency, category,
                     clamp(priority), reason, windfall_value, _technical(u, i, side))


def _multiplier(sec: SecurityInfo) -> float:
    """The security's priority multiplier (a non-positive or non-finite one counts 1)."""
    m = sec.priority_multiplier
    return m if math.isfinite(m) and m > 0 else 1.0


def heuristic_candidates(u: Universe, s: PlannerSettings) -> dict[str, list[Candidate]]:
    """The five Python categories: profit taking, averaging down, rebalance sells and buys,
    opportunity buys."""
    base = base_trade_eur(s)
    out: dict[str, list[Candidate]] = {k: [] for k in (
        "profit_taking", "averaging_down", "rebalance_sells", "rebalance_buys",
        "opportunity_buys")}
    for i, sec in enumerate(u.securities):
        mult = _multiplier(sec)
        held = u.hold_qty[i] > 0
        ss = u.sell_scores.get(i)
        wf = u.windfalls.get(i)
        group = u.country_group[i]
        if held and ss is not None and ss.eligible and wf is not None and wf.sell_pct > 0:
            lot = max(1, sec.min_lot)
            qty = math.floor(u.hold_qty[i] * wf.sell_pct / lot) * lot
            if qty >= lot and qty * u.price_eur[i] >= 100:
                out["profit_taking"].append(_cand(
                    u, i, "SELL", qty, "profit_taking", (wf.score + 0.5) / 1.5 / mult,
                    f"windfall: gain {wf.gain:.0%} exceeds the expected {wf.expected:.0%}; "
                    f"take {wf.sell_pct:.0%}", wf.score))
        if held and ss is not None and ss.eligible and group in u.group_targets \
                and u.invested_eur > 0:
            over = u.group_current.get(group, 0.0) - u.group_targets[group]
            if over > 0.05:
                value = min(0.3 * u.hold_qty[i] * u.price_eur[i], over * u.invested_eur)
                lot = max(1, sec.min_lot)
                qty = math.floor(value / u.price_eur[i] / lot) * lot
                if qty >= lot and qty < u.hold_qty[i] + 1e-9:
                    out["rebalance_sells"].append(_cand(
                        u, i, "SELL", qty, "rebalance_sells", 2 * over / mult,
                        f"{group} is {over:.0%} above its target",
                        wf.score if wf is not None else 0.3))
        if _buy_allowed(u, i, s) is not None:
            continue
        sc = u.score(i)
        qty = lots_for(base, u.price_eur[i], sec.min_lot)
        if _too_big(u, i, qty, s):
            continue
        if held and u.avg_cost_eur[i] > 0 and sc >= 0.6 \
                and u.price_eur[i] < 0.8 * u.avg_cost_eur[i]:
            loss = 1 - u.price_eur[i] / u.avg_cost_eur[i]
            out["averaging_down"].append(_cand(
                u, i, "BUY", qty, "averaging_down", (sc + loss) / 1.5 * mult,
                f"quality {sc:.2f} trading {loss:.0%} below the average cost", 0.6))
        under = u.group_targets.get(group, 0.0) - u.group_current.get(group, 0.0)
        if group in u.group_targets and under > 0.05:
            out["rebalance_buys"].append(_cand(
                u, i, "BUY", qty, "rebalance_buys", (2 * under + 0.5 * sc) / 1.5 * mult,
                f"{group} is {under:.0%} below its target", 0.6))
        if sc >= 0.7:
            bonus = 1.3 if under > 0.0 else 1.0
            out["opportunity_buys"].append(_cand(
                u, i, "BUY", qty, "opportunity_buys", sc * mult * bonus,
                f"high score {sc:.2f}", 0.6))
    for k in out:
        out[k] = _top(u, out[k], s.max_opportunities_per_category, s)
    return out


def weight_based_candidates(u: Universe, s: PlannerSettings,
                            targets: Mapping[str, float]) -> dict[str, list[Candidate]]:
    """Optimiser-first calculator: move each gap ``target − current`` worth trading."""
    buys: list[Candidate] = []
    sells: list[Candidate] = []
    total = u.total_eur
    if total <= 0:
        return {"weight_based_buys": [], "weight_based_sells": []}
    for i, sec in enumerate(u.securities):
        if not (u.price_eur[i] > 0):
            continue
        mult = _multiplier(sec)
        current = u.hold_qty[i] * u.price_eur[i] / total
        target = targets.get(sec.symbol, 0.0)
        g = target - current
        if abs(g) <= 0.005:
            continue
        gross = abs(g) * total
        if gross < 2 * (s.transaction_cost_fixed + s.transaction_cost_percent * gross):
            continue
        lot = max(1, sec.min_lot)
        if g > 0:
            if optimiser_buy_refusal(u, i, s) is not None:
                continue
            qty = max(lot, math.floor(gross / u.price_eur[i] / lot) * lot)
            if _too_big(u, i, qty, s):
                room = position_cap(s) * total - u.hold_qty[i] * u.price_eur[i]
                qty = math.floor(max(0.0, room) / u.price_eur[i] / lot) * lot
                if qty < lot:
                    continue
            at_loss = u.hold_qty[i] > 0 and u.price_eur[i] < u.avg_cost_eur[i]
            buys.append(_cand(u, i, "BUY", qty, "averaging_down" if at_loss
                              else "weight_based", 10 * g * mult,
                              f"optimiser target {target:.1%} vs {current:.1%} now", 0.6))
        else:
            ss = u.sell_scores.get(i)
            if ss is None or not ss.eligible:
                continue
            qty = math.floor(gross / u.price_eur[i] / lot) * lot
            rest = u.hold_qty[i] - qty
            if 0 < rest < lot:
                qty = int(u.hold_qty[i])
            if qty < lot or qty > u.hold_qty[i] + 1e-9:
                continue
            wf = u.windfalls.get(i)
            sells.append(_cand(u, i, "SELL", qty, "weight_based", 10 * -g / mult,
                               f"optimiser target {target:.1%} vs {current:.1%} now",
                               wf.score if wf is not None else 0.3))
    n = 2 * s.max_opportunities_per_category
    return {"weight_based_buys": _top(u, buys, n, s), "weight_based_sells": _top(u, sells, n, s)}


def candidate_pool(groups: Mapping[str, list[Candidate]]) -> list[Candidate]:
    """All candidates, de-duplicated by (symbol, side) keeping the highest priority."""
    best: dict[tuple[str, str], Candidate] = {}
    for cands in groups.values():
        for c in cands:
            key = (c.symbol, c.side)
            if key not in best or c.priority > best[key].priority:
                best[key] = c
    return sorted(best.values(), key=lambda c: (c.side != "SELL", -c.priority, c.symbol))
