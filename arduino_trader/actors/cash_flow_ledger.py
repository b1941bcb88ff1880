"""Reading the broker's cash-flow ledger page by page (``take``/``skip``), whole or only
its recent end (``domain/cash_flows/recent_read``), never taking a part for the whole."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date

from arduino_trader.domain.cash_flows.recent_read import FIRST_PAGE, reaches_back, recent_only
from arduino_trader.protocols.broker import CashFlow
from arduino_trader.protocols.broker_errors import BrokerProtocolError

PAGE_SIZE = 500
MAX_PAGES = 200  # pages of a whole read: 100,000 ledger rows at full pages

Page = Callable[[int, int], Sequence[CashFlow]]
"""One page of the ledger, newest first: ``page(take, skip)``."""


def read_ledger(page: Page, since: date | None) -> tuple[list[CashFlow], bool]:
    """(rows, recent): the whole ledger, or (``since`` given and the answer newest first)
    only the rows dated ``since`` or later, with ``recent`` True.

    A page may be shorter than asked (the server's own cap), so only an empty page, or
    one holding nothing an earlier page did not, ends the ledger; rows an earlier page
    held (the ledger moved down under a new booking) are read once. A ledger still not
    at its end after ``MAX_PAGES`` pages raises :class:`BrokerProtocolError`.
    """
    rows: list[CashFlow] = []
    read: set[str] = set()  # ids of earlier pages
    skip = 0
    take = PAGE_SIZE if since is None else FIRST_PAGE
    for _ in range(MAX_PAGES):
        got = page(take, skip)
        skip += len(got)
        fresh = [f for f in got if f.flow_id not in read]
        read.update(f.flow_id for f in fresh)
        rows += fresh
        if not fresh:
            return rows, False
        if since is not None and reaches_back(rows, since):
            return recent_only(rows, since), True
        take = PAGE_SIZE
    raise BrokerProtocolError(f"getUserCashFlows: more than {MAX_PAGES} pages "
                              f"({len(rows)} rows) without reaching the end")
