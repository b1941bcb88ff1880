"""Messages of the satellite manager actor.

Commands are asked; the reply is JSON-ready data (a dict or list) or a
:class:`SatelliteRefused` naming a stable error code and the HTTP status it maps to —
a refused command has written nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

SATELLITES_ACTOR = "satellites"

BucketEventName = Literal["activate", "pause", "resume", "hibernate", "retire"]


@dataclass(frozen=True)
class SatelliteRefused:
    """A command refused by a rule or bad input; nothing was written."""

    status: int
    code: str
    message: str


@dataclass(frozen=True)
class CreateSatellite:
    """Create a satellite (research by default, else accumulating)."""

    bucket_id: str
    name: str
    notes: str = ""
    start_in_research: bool = True


@dataclass(frozen=True)
class UpdateBucket:
    """PATCH a bucket: any of name, notes and (satellites) target/min/max fractions."""

    bucket_id: str
    name: str | None = None
    notes: str | None = None
    target_pct: Decimal | None = None
    min_pct: Decimal | None = None
    max_pct: Decimal | None = None


@dataclass(frozen=True)
class BucketEvent:
    """A manual lifecycle event on one bucket."""

    bucket_id: str
    event: BucketEventName


@dataclass(frozen=True)
class PutSettings:
    """Replace a satellite's settings with the validated JSON object ``data``."""

    satellite_id: str
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ApplyPreset:
    """Apply a named strategy preset to a satellite's settings."""

    satellite_id: str
    preset: str


@dataclass(frozen=True)
class TransferCash:
    """Move cash between buckets (both legs in one transaction); ``request_id`` keys
    the ledger rows, so a retried request changes nothing."""

    from_bucket_id: str
    to_bucket_id: str
    amount: Decimal
    currency: str
    request_id: str
    description: str = ""


@dataclass(frozen=True)
class AllocateDeposit:
    """Allocate a deposit across buckets, deficit-first."""

    amount: Decimal
    currency: str
    request_id: str
    description: str = ""


@dataclass(frozen=True)
class ReconcileCurrency:
    """Reconcile one currency against ``actual_balance`` (live broker cash when None)."""

    currency: str
    actual_balance: Decimal | None = None
    auto_correct_threshold_eur: Decimal | None = None


@dataclass(frozen=True)
class CheckReconciliation:
    """Read-only reconciliation check of one currency (live broker cash when None)."""

    currency: str
    actual_balance: Decimal | None = None


@dataclass(frozen=True)
class SetSatelliteBudget:
    """Set the satellite budget (0..0.30); core's target stays 1 − Σ satellite targets."""

    budget_pct: Decimal


@dataclass(frozen=True)
class PreviewAllocation:
    """The meta-allocator's plan, without writing anything."""


@dataclass(frozen=True)
class ApplyAllocation:
    """Compute and apply the meta-allocator's plan, all or nothing."""


@dataclass(frozen=True)
class GetBucketValues:
    """Per-bucket EUR values, aggression and balances (JSON-ready)."""


@dataclass(frozen=True)
class GetPlanningScopes:
    """What a planner needs per bucket.

    The reply is ``(scopes, skipped)`` as built by
    ``arduino_trader.domain.satellites.planning.plan_scopes``: for each trading-allowed
    bucket its symbols, its cash in EUR, its mapped parameters and its buy scale
    (effective aggression); the buckets that do not plan, with the reason.
    """


@dataclass(frozen=True)
class AssignSecurity:
    """Put a security (ISIN) in a bucket's universe; ``core`` removes the assignment."""

    isin: str
    bucket_id: str


@dataclass(frozen=True)
class GetCashFlowContext:
    """Ask for the bucket facts the cash-flow effects need (deposit split, income
    destinations): the reply is the cash-flow domain's ``EffectContext`` built
    with ``rates`` (its ``RateTable``)."""

    rates: Any


@dataclass(frozen=True)
class InitializeFromBroker:
    """Manual: currencies with no ledger row take the broker's cash into core."""
