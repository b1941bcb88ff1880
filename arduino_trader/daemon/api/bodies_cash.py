"""Request bodies of the dividend and allocation-group routes (see :mod:`.body`)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated

from msgspec import UNSET, Meta, UnsetType

from .body import Body, BookedCurrency, Num

NotBlank = Annotated[str, Meta(pattern=r"\S")]
Positive = Annotated[Decimal, Num(gt=Decimal(0))]


Cents = Annotated[Decimal, Num(gt=Decimal(0), places=2)]


class DividendBody(Body):
    """``POST /api/dividends``: a dividend recorded by hand, in whole cents; a non-EUR one
    needs its ``amount_eur`` (never converted 1:1)."""

    symbol: NotBlank
    amount: Cents
    currency: BookedCurrency
    payment_date: date
    isin: NotBlank | None = None
    amount_eur: Cents | UnsetType = UNSET
    bucket_id: str = "core"


class PendingBonusBody(Body):
    """``POST /api/dividends/{id}/pending-bonus``: the dividend's pending cash."""

    amount: Annotated[Decimal, Num(ge=Decimal(0))]


class MarkReinvestedBody(Body):
    """``POST /api/dividends/{id}/mark-reinvested``: shares bought with it."""

    quantity: Positive


class TargetsBody(Body):
    """``PUT /api/allocation/groups/targets/{kind}``: group → weight in [0, 1] (existing
    groups only)."""

    targets: dict[str, Annotated[Decimal, Meta(description="group → [0, 1]")]]


class GroupBody(Body):
    """``PUT /api/allocation/groups/{kind}``: a group and its members; only the list of
    the path's kind (``country_names`` or ``industry_names``) belongs."""

    group_name: str
    country_names: list[str] | UnsetType = UNSET
    industry_names: list[str] | UnsetType = UNSET
