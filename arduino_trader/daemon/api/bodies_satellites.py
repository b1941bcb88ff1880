"""Request bodies of the satellite routes (see :mod:`.body`)."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

import msgspec
from msgspec import UNSET, Meta, UnsetType

from arduino_trader.protocols.satellite_records import DividendHandling

from .body import Body, BookedCurrency, Num, RequestId

# Larger magnitudes overflow the ledger's cent quantisation (decimal.InvalidOperation).
MAX_ABS_AMOUNT = Decimal(10) ** 15
Amount = Annotated[Decimal, Num(gt=-MAX_ABS_AMOUNT, lt=MAX_ABS_AMOUNT)]
Fraction = Annotated[Decimal, Num(ge=Decimal(0), le=Decimal(1), description="in [0, 1]")]
BucketId = Annotated[str, Meta(pattern=r"\S", description="core or a satellite's id")]


def given(body: Body) -> dict[str, Any]:
    """The fields of ``body`` the request set (``UNSET`` ones left out)."""
    return {k: v for k, v in msgspec.structs.asdict(body).items() if v is not UNSET}


class CreateSatelliteBody(Body):
    """``POST /api/satellites/satellites``: a new satellite."""

    id: Annotated[str, Meta(pattern=r"^[a-z0-9][a-z0-9_-]{0,39}$",
                            description="1-40 lower-case letters, digits, '-' or '_'")]
    name: Annotated[str, Meta(pattern=r"\S")]
    notes: str = ""
    start_in_research: bool = True


class PatchBucketBody(Body):
    """``PATCH /api/satellites/buckets/{id}``: the fields to change (at least one)."""

    name: str | UnsetType = UNSET
    notes: str | UnsetType = UNSET
    target_pct: Amount | UnsetType = UNSET
    min_pct: Amount | UnsetType = UNSET
    max_pct: Amount | UnsetType = UNSET


class SatelliteSettingsBody(Body):
    """``PUT /api/satellites/satellites/{id}/settings``: every setting (absent ones take
    their defaults)."""

    satellite_id: str | UnsetType = UNSET  # echoed by GET; the path names the satellite
    preset: str | UnsetType | None = UNSET
    risk_appetite: Fraction | UnsetType = UNSET
    hold_duration: Fraction | UnsetType = UNSET
    entry_style: Fraction | UnsetType = UNSET
    position_spread: Fraction | UnsetType = UNSET
    profit_taking: Fraction | UnsetType = UNSET
    trailing_stops: bool | UnsetType = UNSET
    follow_regime: bool | UnsetType = UNSET
    auto_harvest: bool | UnsetType = UNSET
    pause_high_volatility: bool | UnsetType = UNSET
    dividend_handling: DividendHandling | UnsetType = UNSET
    risk_free_rate: Fraction | UnsetType = UNSET
    sortino_mar: Fraction | UnsetType = UNSET
    evaluation_period_days: Annotated[int, Meta(ge=1, le=3650)] | UnsetType = UNSET
    volatility_window: Annotated[int, Meta(ge=2, le=3650)] | UnsetType = UNSET


class PresetBody(Body):
    """``POST /api/satellites/satellites/{id}/apply-preset``."""

    preset_name: Annotated[str, Meta(min_length=1)]


class DepositBody(Body):
    """``POST /api/satellites/balances/deposit``: split a deposit across buckets."""

    amount: Amount
    request_id: RequestId
    currency: BookedCurrency = "EUR"
    description: str = ""


class TransferBody(DepositBody, kw_only=True):
    """``POST /api/satellites/balances/transfer``: cash from one bucket to another."""

    from_bucket_id: str
    to_bucket_id: str


class ReconcileBody(Body):
    """``POST /api/satellites/reconcile``: one currency (without ``actual_balance`` the
    broker's cash is used)."""

    currency: BookedCurrency
    actual_balance: Amount | None = None
    auto_correct_threshold: Annotated[Decimal, Num(ge=Decimal(0), le=Decimal(100),
                                                   description="EUR")] | None = None


class AssignSecurityBody(Body):
    """``PUT /api/satellites/securities/{isin}/bucket``: ``core`` returns it to core."""

    bucket_id: BucketId
