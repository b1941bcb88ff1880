"""The planner's view of the owner's allocation groups and dividend bonuses (pure).

Country and industry targets are set per *group*; the planner therefore sees each
security's country and industries as group names: a member listed in a group maps to it,
anything else to ``OTHER`` (as ``GET /api/allocation/groups/allocation`` shows it). Without
any group of a kind the raw names stay (there is no target to compare them with).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from decimal import Decimal

from ..allocation import OTHER_GROUP
from ..dividends import pending_bonus
from .models import SecurityInfo


def member_to_group(groups: Mapping[str, Sequence[str]], names: Iterable[str]
                    ) -> dict[str, str]:
    """``{name: group}`` for every name in ``names`` (unlisted → ``OTHER``); empty when
    no group is defined."""
    if not groups:
        return {}
    of = {m: g for g, members in sorted(groups.items()) for m in members}
    return {n: of.get(n, OTHER_GROUP) for n in names}


def industries_of(industry: str | None) -> list[str]:
    """The industries of a comma-separated list, trimmed, blanks dropped."""
    return [p.strip() for p in (industry or "").split(",") if p.strip()]


def grouped_industry(industry: str | None, to_group: Mapping[str, str]) -> str | None:
    """``industry`` (a comma list) as its groups' comma list, each group once."""
    if not to_group or industry is None:
        return industry
    names: list[str] = []
    for part in industries_of(industry):
        group = to_group.get(part, OTHER_GROUP)
        if group not in names:
            names.append(group)
    return ",".join(names) or None


def dividend_bonuses(pending_eur: Mapping[str, Decimal], values_eur: Mapping[str, float],
                     min_trade_eur: Decimal) -> dict[str, float]:
    """Expected-return bonus per symbol from its pending dividend cash:
    min(pending / max(position value, minimum trade), 0.05)."""
    out: dict[str, float] = {}
    for symbol, pending in pending_eur.items():
        value = Decimal(str(values_eur.get(symbol, 0.0)))
        bonus = pending_bonus(pending, value, min_trade_eur)
        if bonus > 0:
            out[symbol] = float(bonus)
    return out


def with_bonuses(securities: Sequence[SecurityInfo], bonuses: Mapping[str, float]
                 ) -> list[SecurityInfo]:
    """``securities`` with their dividend bonus set (others unchanged)."""
    return [replace(s, dividend_bonus=bonuses[s.symbol]) if s.symbol in bonuses else s
            for s in securities]


__all__ = ["dividend_bonuses", "grouped_industry", "industries_of", "member_to_group",
           "with_bonuses"]
