"""The satellite manager's view of the committed bucket ledger as a
:class:`~arduino_trader.domain.satellites.balances.BalanceBook`, read through the
bucket-ledger port."""

from __future__ import annotations

from arduino_trader.domain.satellites.balances import BalanceBook
from arduino_trader.protocols.bucket_ledger import BucketLedger


def load_book(ledger: BucketLedger) -> BalanceBook:
    """Every committed ledger row as a book (balances are their exact sums)."""
    return BalanceBook.from_entries(entry for _, entry in ledger.rows_after(0))


class BookReader:
    """:func:`load_book` without re-reading the whole ledger each time: the ledger is
    append-only (ids from AUTOINCREMENT; an update or a delete is refused by the
    database's triggers, migration 0915), so the book read last time plus the rows added
    since is the book. When the rows it already holds are not all there (another
    database), it reads everything again. Committed state only: the port reads no
    transaction that may still roll back."""

    def __init__(self) -> None:
        self._book = BalanceBook()
        self._last_id = 0

    def load(self, ledger: BucketLedger) -> BalanceBook:
        """The current book (one count and one read of the new rows)."""
        if ledger.count_through(self._last_id) != len(self._book.entries):
            self._book, self._last_id = BalanceBook(), 0
        rows = ledger.rows_after(self._last_id)
        if rows:
            self._book, _ = self._book.apply(tuple(entry for _, entry in rows),
                                             check_negative=False)
            self._last_id = rows[-1][0]
        return self._book
