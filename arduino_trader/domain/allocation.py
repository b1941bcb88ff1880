"""Allocation by country and industry groups, current vs target, and concentration
alerts.

Pure functions over positions already valued in EUR (``market_value_eur``, or quantity ×
price × FX computed by the caller — never a foreign price taken as euros). Cash is not
part of the allocation total. Percentages are fractions (0.25 = 25 %).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

from arduino_trader.protocols.money import CENT, ZERO

BAND = Decimal("0.02")
OTHER_GROUP = "OTHER"
EMPTY_MEMBER = "__EMPTY__"
GroupKind = Literal["country", "industry"]
AlertKind = Literal["country", "sector", "position"]
# kind → (alert threshold, hard limit)
CONCENTRATION_LIMITS: dict[AlertKind, tuple[Decimal, Decimal]] = {
    "country": (Decimal("0.28"), Decimal("0.35")),
    "sector": (Decimal("0.24"), Decimal("0.30")),
    "position": (Decimal("0.12"), Decimal("0.15")),
}
CRITICAL_RATIO = Decimal("0.90")
_PCT = Decimal("0.0001")


class AllocationError(ValueError):
    """Invalid groups or targets (a 400 at the API)."""


@dataclass(frozen=True)
class Holding:
    """A position for allocation: EUR value, country, comma-separated industries."""

    symbol: str
    value_eur: Decimal
    country: str = ""
    industry: str = ""


@dataclass(frozen=True)
class AllocationRow:
    """Current vs target of one group."""

    name: str
    target_pct: Decimal
    current_pct: Decimal
    current_value: Decimal
    deviation: Decimal
    status: Literal["underweight", "balanced", "overweight"]
    need: Decimal


@dataclass(frozen=True)
class ConcentrationAlert:
    """A country, sector or position at or above its alert threshold."""

    type: AlertKind
    name: str
    current_pct: Decimal
    limit_pct: Decimal
    alert_threshold_pct: Decimal
    severity: Literal["warning", "critical"]

    @property
    def needs_action(self) -> bool:
        """At or over the hard limit: the owner has to act (the others are early notice)."""
        return self.current_pct >= self.limit_pct


def position_value_eur(market_value_eur: Decimal | None, quantity: Decimal,
                       price: Decimal | None, eur_per_unit: Decimal | None) -> Decimal:
    """A position's EUR value: the stored ``market_value_eur``, else quantity × price ×
    the EUR rate of its currency (the reference forgot the FX). Without a price or a
    rate the value is unknown: :class:`AllocationError`, never a 1:1 guess."""
    if market_value_eur is not None:
        return market_value_eur
    if price is None or eur_per_unit is None or eur_per_unit <= 0:
        raise AllocationError("position value unknown: no market value, price or FX rate")
    return quantity * price * eur_per_unit


def industries(text: str) -> list[str]:
    """Comma-separated industries, trimmed, empties dropped."""
    return [part.strip() for part in text.split(",") if part.strip()]


def exposure(holdings: Iterable[Holding], kind: GroupKind) -> dict[str, Decimal]:
    """EUR value per country, or per industry with a multi-industry value split equally."""
    out: dict[str, Decimal] = {}
    for h in holdings:
        names = industries(h.industry) if kind == "industry" else \
            ([h.country.strip()] if h.country.strip() else [])
        if not names:
            names = [OTHER_GROUP]
        share = h.value_eur / len(names)
        for name in names:
            out[name] = out.get(name, ZERO) + share
    return out


def group_of(groups: Mapping[str, Sequence[str]]) -> dict[str, str]:
    """member → group (the ``__EMPTY__`` placeholder is ignored)."""
    out: dict[str, str] = {}
    for group, members in groups.items():
        for member in members:
            if member != EMPTY_MEMBER:
                out[member] = group
    return out


def status_for(deviation: Decimal) -> Literal["underweight", "balanced", "overweight"]:
    """±2 % band around the target."""
    if deviation < -BAND:
        return "underweight"
    if deviation > BAND:
        return "overweight"
    return "balanced"


def current_vs_target(holdings: Sequence[Holding], kind: GroupKind,
                      groups: Mapping[str, Sequence[str]], targets: Mapping[str, Decimal],
                      active_members: Iterable[str] = ()) -> list[AllocationRow]:
    """Group-level rows: members map to their group, unmapped to ``OTHER``; names
    listed = target groups ∪ groups held ∪ groups of ``active_members`` (the countries or
    industries of active securities); target default 0; sorted by name."""
    by_member = exposure(holdings, kind)
    mapping = group_of(groups)
    values: dict[str, Decimal] = {mapping.get(m, OTHER_GROUP): ZERO for m in active_members}
    for member, value in by_member.items():
        group = mapping.get(member, OTHER_GROUP)
        values[group] = values.get(group, ZERO) + value
    return buckets_vs_target(values, targets)


def buckets_vs_target(values: Mapping[str, Decimal],
                      targets: Mapping[str, Decimal]) -> list[AllocationRow]:
    """Bucket rows: each bucket's share of the buckets' total EUR value (positions and
    cash) against its ``target_pct``, drift = current − target; sorted by name."""
    total = sum(values.values(), ZERO)
    rows = []
    for name in sorted(set(values) | set(targets)):
        value = values.get(name, ZERO)
        current = (value / total).quantize(_PCT) if total > 0 else ZERO
        target = targets.get(name, ZERO)
        deviation = current - target
        rows.append(AllocationRow(name, target, current, value.quantize(CENT), deviation,
                                  status_for(deviation), max(ZERO, -deviation)))
    return rows


def concentration_alerts(holdings: Sequence[Holding],
                         cash_eur: Decimal = ZERO) -> list[ConcentrationAlert]:
    """Countries, sectors and positions at or above their alert thresholds, as
    shares of the whole portfolio: positions plus ``cash_eur`` (all currencies in EUR).

    Severity is critical when current/limit ≥ 0.90, else warning.
    """
    total = sum((h.value_eur for h in holdings), ZERO) + cash_eur
    if total <= 0:
        return []
    positions: dict[str, Decimal] = {}
    for h in holdings:
        positions[h.symbol] = positions.get(h.symbol, ZERO) + h.value_eur
    sources: list[tuple[AlertKind, dict[str, Decimal]]] = [
        ("country", exposure(holdings, "country")),
        ("sector", exposure(holdings, "industry")),
        ("position", positions),
    ]
    alerts = []
    for kind, values in sources:
        alert_at, limit = CONCENTRATION_LIMITS[kind]
        for name in sorted(values):
            if name == OTHER_GROUP and kind != "position":
                continue
            current = (values[name] / total).quantize(_PCT)
            if current >= alert_at:
                severity: Literal["warning", "critical"] = \
                    "critical" if current / limit >= CRITICAL_RATIO else "warning"
                alerts.append(ConcentrationAlert(kind, name, current, limit, alert_at,
                                                 severity))
    return alerts


def clean_members(group_name: str, members: Iterable[str]) -> tuple[str, list[str]]:
    """Validate a group update: a non-blank name; members trimmed, de-duplicated in
    order, blanks dropped; an empty list is allowed (stored as ``__EMPTY__``)."""
    name = group_name.strip() if isinstance(group_name, str) else ""
    if not name:
        raise AllocationError("group_name must not be blank")
    if name == OTHER_GROUP:
        raise AllocationError(f"{OTHER_GROUP} is reserved for unmapped members")
    seen: list[str] = []
    for member in members:
        text = member.strip() if isinstance(member, str) else ""
        if text and text != EMPTY_MEMBER and text not in seen:
            seen.append(text)
    return name, seen


def validate_targets(targets: Mapping[str, object],
                     known_groups: Iterable[str]) -> dict[str, Decimal]:
    """Group targets in [0, 1] for existing groups only, together at most 1 (they are
    shares of one portfolio: more would ask the optimiser for bounds no weights meet);
    returns the non-zero weights."""
    known = set(known_groups)
    out: dict[str, Decimal] = {}
    for group, raw in targets.items():
        if group not in known:
            raise AllocationError(f"unknown group {group!r}")
        if isinstance(raw, bool) or not isinstance(raw, int | float | str | Decimal):
            raise AllocationError(f"target for {group!r} must be a number")
        try:
            value = Decimal(str(raw))
        except ArithmeticError:
            raise AllocationError(f"target for {group!r} is not a number") from None
        if not value.is_finite() or not ZERO <= value <= 1:
            raise AllocationError(f"target for {group!r} must be in [0, 1], got {raw!r}")
        if value != 0:
            out[group] = value
    total = sum(out.values(), ZERO)
    if total > 1:
        raise AllocationError(f"targets sum to {total}, more than 1 (the whole portfolio)")
    return out
