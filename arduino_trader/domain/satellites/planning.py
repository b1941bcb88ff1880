"""Per-bucket planning scopes: which buckets plan, with what.

For each trading-allowed bucket: its universe is the securities whose ``bucket_id`` is
its id (none → no plan); its positions are its own (``positions.bucket_positions``: the
fills attributed to it, core the rest); its cash is its virtual balances in EUR; a
satellite plans with its mapped parameters (defaults when it has no settings) and only
when its effective aggression is above 0, which scales its buys. Actions are tagged
``bucket:<id>`` and reasons prefixed ``[<id>]`` so fills settle against that bucket.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal

from arduino_trader.protocols.money import ZERO
from arduino_trader.protocols.satellite_records import ONE, Bucket, SatelliteSettings

from .parameters import SatelliteParameters, map_parameters

TAG_PREFIX = "bucket:"


@dataclass(frozen=True)
class PlanScope:
    """What the planner gets for one bucket."""

    bucket_id: str
    symbols: frozenset[str]
    cash_eur: Decimal
    parameters: SatelliteParameters | None
    buy_scale: Decimal
    positions: Mapping[str, Decimal] | None = None  # its own holdings; None = unknown
    avg_costs: Mapping[str, Decimal] | None = None  # a satellite's own average cost/share

    @property
    def tag(self) -> str:
        """The action tag, ``bucket:<id>``."""
        return TAG_PREFIX + self.bucket_id

    def reason(self, text: str) -> str:
        """``text`` prefixed with ``[<id>]``."""
        return f"[{self.bucket_id}] {text}"


@dataclass(frozen=True)
class Skipped:
    """A bucket that does not plan this cycle, and why."""

    bucket_id: str
    reason: str


def bucket_of_tag(tag: str) -> str | None:
    """The bucket id of a ``bucket:<id>`` tag (None for any other tag)."""
    return tag[len(TAG_PREFIX):] if tag.startswith(TAG_PREFIX) else None


def plan_scopes(buckets: Mapping[str, Bucket], security_buckets: Mapping[str, str],
                cash: Mapping[str, Mapping[str, Decimal]], eur_per: Callable[[str], Decimal],
                settings: Mapping[str, SatelliteSettings],
                effective_aggression: Mapping[str, Decimal],
                positions: Mapping[str, Mapping[str, Decimal]] | None = None,
                avg_costs: Mapping[str, Mapping[str, Decimal]] | None = None
                ) -> tuple[list[PlanScope], list[Skipped]]:
    """Scopes of the buckets that plan, and the skipped ones with their reason.

    ``security_buckets`` maps each symbol to its bucket id; ``cash`` is
    {bucket: {currency: balance}}; ``effective_aggression`` is per satellite (missing = 0);
    ``positions`` is {bucket: {symbol: quantity}} from the attributed fills (None =
    unknown: the planner then uses the account's positions in the bucket's symbols);
    ``avg_costs`` is a satellite's own average cost per share from its fills (its stop-loss
    is measured against it, not the account's average).
    A missing FX rate skips that bucket (never 1:1); it does not stop the others.
    """
    scopes: list[PlanScope] = []
    skipped: list[Skipped] = []
    for bucket in sorted(buckets.values(), key=lambda b: (not b.is_core, b.id)):
        if not bucket.trading_allowed:
            skipped.append(Skipped(bucket.id, f"status {bucket.status}"))
            continue
        symbols = frozenset(s for s, b in security_buckets.items() if b == bucket.id)
        if not symbols:
            skipped.append(Skipped(bucket.id, "no securities"))
            continue
        try:
            cash_eur = sum((amount * eur_per(ccy) for ccy, amount in
                            cash.get(bucket.id, {}).items() if amount), ZERO)
        except LookupError as exc:
            skipped.append(Skipped(bucket.id, f"no FX rate: {exc}"))
            continue
        own = None if positions is None else dict(positions.get(bucket.id, {}))
        if bucket.is_core:
            scopes.append(PlanScope(bucket.id, symbols, cash_eur, None, ONE, own))
            continue
        scale = effective_aggression.get(bucket.id, ZERO)
        if scale <= 0:
            skipped.append(Skipped(bucket.id, "aggression 0"))
            continue
        mine = settings.get(bucket.id) or SatelliteSettings(bucket.id)
        costs = None if avg_costs is None else dict(avg_costs.get(bucket.id, {}))
        scopes.append(PlanScope(bucket.id, symbols, cash_eur, map_parameters(mine),
                                min(scale, ONE), own, costs))
    return scopes, skipped
