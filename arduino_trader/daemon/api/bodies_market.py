"""Request bodies of the security routes (see :mod:`.body`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal

import msgspec
from msgspec import UNSET, Meta, UnsetType

from arduino_trader.protocols.market_data import PRODUCT_TYPES

from .body import Body

NotBlank = Annotated[str, Meta(pattern=r"\S", description="not blank")]
MinLot = Annotated[int, Meta(ge=1)]
if TYPE_CHECKING:
    ProductType = str
else:
    ProductType = Literal[PRODUCT_TYPES]


class _Onboarding(Body):
    """The overrides both onboarding routes take."""

    yahoo_symbol: NotBlank | None = None
    min_lot: MinLot | UnsetType = UNSET
    allow_buy: bool | UnsetType = UNSET
    allow_sell: bool | UnsetType = UNSET

    def overrides(self) -> dict[str, Any]:
        """The given fields (strings trimmed) for ``AddSecurity``."""
        out: dict[str, Any] = {}
        for key, value in msgspec.structs.asdict(self).items():
            if key in ("isin", "identifier") or value is None or value is UNSET:
                continue
            out[key] = value.strip() if isinstance(value, str) else value
        return out


class CreateSecurityBody(_Onboarding, kw_only=True):
    """``POST /api/securities``: a security by its ISIN, symbol and name."""

    isin: NotBlank
    symbol: NotBlank
    name: NotBlank
    currency: NotBlank | None = None


class AddSecurityBody(_Onboarding, kw_only=True):
    """``POST /api/securities/add-by-identifier``: ISIN, broker ticker or Yahoo symbol."""

    identifier: NotBlank


class UpdateSecurityBody(Body):
    """``PUT /api/securities/{isin}``: the editable fields; text ``null`` clears one,
    numbers are clamped (multiplier 0.1-3.0, min target 0-20, max target 0-30)."""

    name: NotBlank | UnsetType = UNSET
    yahoo_symbol: str | UnsetType | None = UNSET
    country: str | UnsetType | None = UNSET
    industry: str | UnsetType | None = UNSET
    exchange: str | UnsetType | None = UNSET
    full_exchange_name: str | UnsetType | None = msgspec.field(default=UNSET,
                                                               name="fullExchangeName")
    mic: str | UnsetType | None = UNSET
    product_type: ProductType | UnsetType = UNSET
    priority_multiplier: float | UnsetType = UNSET
    min_lot: MinLot | UnsetType = UNSET
    active: bool | UnsetType = UNSET
    allow_buy: bool | UnsetType = UNSET
    allow_sell: bool | UnsetType = UNSET
    min_portfolio_target: float | UnsetType | None = UNSET
    max_portfolio_target: float | UnsetType | None = UNSET


MAX_REJECT_REASON = 500


class RejectCandidateBody(Body):
    """``POST /api/universe/discovery/{isin}/reject``: the owner's reason, optional."""

    reason: Annotated[str, Meta(max_length=MAX_REJECT_REASON,
                                description="why the candidate is rejected")] | None = None
