"""What normalising broker rows yields besides the records: the status codes, the kinds
with income rules, and the rows that were refused.

The record itself (:class:`~arduino_trader.protocols.cash_flow_store.CashFlowRecord`)
crosses the store's port: amounts are signed ``Decimal`` in its own currency, quantized
to the cent, and ``key`` is the stable unique key (see :mod:`.keys`), never containing a
mutable field such as the status.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from arduino_trader.protocols.cash_flow_store import CashFlowRecord, Source, Status

# A client request's ``status_c``, as the broker documents it for its request history:
# 0 a draft, 1 being executed, 2 rejected, 3 executed. Any other code is ``unknown``: it
# moves no money and is not final.
STATUS_BY_CODE: dict[int, Status] = {
    0: "pending", 1: "processing", 2: "rejected", 3: "completed",
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
