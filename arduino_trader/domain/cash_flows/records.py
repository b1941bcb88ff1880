"""Typed cash-flow records: what every broker source normalises into (one table, ``cash_flows``).

Amounts are signed ``Decimal`` in the record's own currency (inflow > 0, outflow < 0),
quantized to the cent. ``key`` is the stable unique key (see :mod:`.keys`); it never
contains a mutable field such as the status.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any, Literal

Source = Literal["cps", "corporate_action", "user_cash_flow"]
FlowKind = Literal[
    "deposit", "withdrawal", "withdrawal_fee", "structured_product_purchase",
    "structured_product_fee", "dividend", "coupon", "maturity", "partial_maturity",
    "trading_fee", "fee", "tax", "other",
]
Status = Literal["pending", "processing", "completed", "cancelled", "rejected", "unknown"]

STATUS_BY_CODE: dict[int, Status] = {
    1: "pending", 2: "processing", 3: "completed", 4: "cancelled", 5: "rejected",
}
# Kinds whose cash goes to the owning bucket and creates a dividend_history row.
INCOME_KINDS: frozenset[str] = frozenset({"dividend", "coupon"})
# Kinds that only ever arrive completed (corporate actions, fees, the cash-flow ledger).
FINAL_STATUSES: frozenset[str] = frozenset({"cancelled", "rejected"})


def status_from_code(code: int | None) -> Status:
    """Readable status of a broker status code (``unknown`` for anything unlisted)."""
    if code is None:
        return "unknown"
    return STATUS_BY_CODE.get(code, "unknown")


@dataclass(frozen=True)
class CashFlowRecord:
    """One normalised broker cash movement.

    ``transaction_type`` is the stored type name (``withdrawal``, ``type_<n>`` ...);
    ``kind`` its classification used by the rules. ``amount_eur_broker`` is the broker's
    own EUR value when it sent one. ``symbol``/``isin`` name the instrument (dividends,
    trading fees); ``related_id`` the trade or request a fee belongs to. ``stable_id`` is
    False when the broker gave no id and the key was derived from immutable content.
    """

    key: str
    source: Source
    kind: FlowKind
    transaction_type: str
    type_doc_id: str
    on: date
    amount: Decimal
    currency: str
    status: Status
    status_c: int | None = None
    description: str = ""
    amount_eur_broker: Decimal | None = None
    symbol: str = ""
    isin: str = ""
    related_id: str = ""
    stable_id: bool = True
    params: Mapping[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def completed(self) -> bool:
        """The money has moved: only completed records have ledger effects."""
        return self.status == "completed"


@dataclass(frozen=True)
class Rejection:
    """A raw record that was not turned into a :class:`CashFlowRecord`, and why.

    ``ignorable`` marks records that are not cash movements at all (e.g. a stock split
    among corporate actions); everything else is a data problem to log loudly.
    """

    source: Source
    reason: str
    raw_id: str = ""
    ignorable: bool = False
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, hash=False)


@dataclass(frozen=True)
class Normalised:
    """Records and rejections from one batch of raw broker rows."""

    records: tuple[CashFlowRecord, ...] = ()
    rejections: tuple[Rejection, ...] = ()

    def __add__(self, other: Normalised) -> Normalised:
        return Normalised(self.records + other.records, self.rejections + other.rejections)
