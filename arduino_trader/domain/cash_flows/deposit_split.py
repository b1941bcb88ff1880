"""Deposit allocation across buckets, deficit-first.

The split is computed in integer cents of the deposit's own currency — the currency the
broker actually holds — so the allocations always sum to the deposit exactly. Bucket
values arrive in EUR and are converted into that currency with the deposit-date rate
(``eur_per_unit``), which is the same as computing the proportions in EUR and crediting
the native amount: a converted number is never paired with another currency's code.

Algorithm with budget S, deposit A and N = Σ bucket values + A:
1. core gets min(max(0, N·(1−S) − core value), A); R = the rest;
2. eligible satellites (active/accumulating, target > 0) have deficit_i = N·target_i −
   value_i (> 0 only); if R covers Σ deficit each gets its deficit, otherwise
   R·deficit_i/Σdeficit rounded down to the cent — never more than its deficit;
3. everything left (including rounding residue) goes to core.
With no satellites, or none eligible, steps 2-3 send the whole deposit to core through
the same path.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal
from typing import Literal

from arduino_trader.protocols.money import CENT, ZERO

CORE_ID = "core"
BucketKind = Literal["core", "satellite"]
DEPOSIT_ELIGIBLE_STATUSES: frozenset[str] = frozenset({"active", "accumulating"})


class DepositSplitError(ValueError):
    """The deposit cannot be split (bad amount, budget, rate or bucket list)."""


@dataclass(frozen=True)
class BucketShare:
    """One bucket's target and current value, as the deposit split needs it.

    ``target_pct`` is a fraction of the whole portfolio (0..1); ``value_eur`` is the
    bucket's current value in EUR (positions + cash in every currency).
    """

    bucket_id: str
    kind: BucketKind
    target_pct: Decimal
    value_eur: Decimal
    status: str = "active"


@dataclass(frozen=True)
class DepositSplit:
    """The allocations of one deposit: ``(bucket_id, amount)`` in ``currency``.

    Core is always first; only buckets receiving a positive amount are listed. The
    amounts sum to the deposit exactly.
    """

    currency: str
    allocations: tuple[tuple[str, Decimal], ...]

    @property
    def total(self) -> Decimal:
        """Σ allocations (equals the deposit)."""
        return sum((amount for _, amount in self.allocations), ZERO)

    def to(self, bucket_id: str) -> Decimal:
        """Amount allocated to ``bucket_id`` (0 if none)."""
        return next((a for b, a in self.allocations if b == bucket_id), ZERO)


def _cents(value: Decimal) -> int:
    """Whole cents of ``value``, rounded down."""
    return int((value / CENT).to_integral_value(rounding=ROUND_FLOOR))


def split_deposit(amount: Decimal, currency: str, buckets: Sequence[BucketShare], *,
                  satellite_budget: Decimal, eur_per_unit: Decimal) -> DepositSplit:
    """Allocate a deposit of ``amount`` ``currency`` across ``buckets``.

    ``amount`` must be positive and whole cents. ``satellite_budget`` is S in [0, 0.30].
    ``eur_per_unit`` is the EUR value of one unit of ``currency`` at the deposit date
    (exactly 1 for EUR; never assume it for another currency). ``buckets`` may omit core
    (treated as value 0); a bucket id may appear once only. Returns allocations summing
    to ``amount`` exactly, the rounding residue going to core.
    """
    if not amount.is_finite() or amount <= 0 or amount != amount.quantize(CENT):
        raise DepositSplitError(f"deposit must be a positive amount in whole cents: {amount}")
    if not ZERO <= satellite_budget <= Decimal("0.30"):
        raise DepositSplitError(f"satellite budget {satellite_budget} outside [0, 0.30]")
    if not eur_per_unit.is_finite() or eur_per_unit <= 0:
        raise DepositSplitError(f"no usable EUR rate for {currency}: {eur_per_unit}")
    if currency == "EUR" and eur_per_unit != 1:
        raise DepositSplitError("EUR converts to itself at exactly 1")
    ids = [b.bucket_id for b in buckets]
    if len(ids) != len(set(ids)):
        raise DepositSplitError(f"duplicate bucket ids: {ids}")
    cores = [b for b in buckets if b.kind == "core"]
    if len(cores) > 1 or any(b.bucket_id == CORE_ID and b.kind != "core" for b in buckets):
        raise DepositSplitError("exactly one core bucket, with id 'core'")
    if cores and cores[0].bucket_id != CORE_ID:
        raise DepositSplitError("the core bucket's id must be 'core'")

    def native(value_eur: Decimal) -> Decimal:
        return value_eur / eur_per_unit

    deposit_c = _cents(amount)
    core_value = native(cores[0].value_eur) if cores else ZERO
    total_after = sum((native(b.value_eur) for b in buckets), ZERO) + amount
    core_need = max(ZERO, total_after * (1 - satellite_budget) - core_value)
    core_c = min(_cents(core_need), deposit_c)
    rest_c = deposit_c - core_c

    deficits: list[tuple[str, int]] = []
    for b in buckets:
        if b.kind != "satellite" or b.status not in DEPOSIT_ELIGIBLE_STATUSES \
                or b.target_pct <= 0:
            continue
        deficit_c = _cents(total_after * b.target_pct - native(b.value_eur))
        if deficit_c > 0:
            deficits.append((b.bucket_id, deficit_c))
    total_deficit = sum(d for _, d in deficits)
    shares: list[tuple[str, int]] = []
    if rest_c > 0 and total_deficit > 0:
        for bucket_id, deficit_c in deficits:
            share = deficit_c if rest_c >= total_deficit else rest_c * deficit_c // total_deficit
            if share > 0:
                shares.append((bucket_id, share))
    core_c = deposit_c - sum(s for _, s in shares)  # core-bucket fallback: remainder to core
    allocations = [(CORE_ID, core_c), *shares] if core_c > 0 else shares
    return DepositSplit(currency, tuple((b, Decimal(c) * CENT) for b, c in allocations))
