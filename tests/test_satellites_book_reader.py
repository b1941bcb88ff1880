"""The incremental ledger reader always equals a full read of the bucket ledger, whoever
writes it: the store's own connection, another connection to the same file, or a
transaction rolled back. Edits and deletions, which the reader could not see, are refused
by the database (the ledger is append-only, migration 0915)."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from arduino_trader.actors.satellite_book import BookReader, load_book
from arduino_trader.adapters.store.satellites_repo import SqliteBucketLedger
from arduino_trader.adapters.store.sqlite import SqliteStore, Tx
from arduino_trader.protocols.store import StoreError

_rows = st.lists(st.tuples(st.sampled_from(["EUR", "USD"]),
                           st.decimals(-500, 500, places=2, allow_nan=False),
                           st.sampled_from(["deposit", "fee", "dividend"])),
                 min_size=0, max_size=4)
_ops = st.lists(st.one_of(st.tuples(st.sampled_from(["append", "other", "rollback"]), _rows),
                          st.tuples(st.sampled_from(["update", "delete"]),
                                    st.integers(0, 20))),
                min_size=1, max_size=8)


_SERIAL = itertools.count(1)  # unique source ids across examples (the database is kept)


class _RolledBack(Exception):
    """Ends a transaction in the test: everything it wrote is rolled back."""


def _insert(tx: Tx, rows: list[tuple[str, object, str]]) -> None:
    for currency, amount, kind in rows:
        tx.execute("INSERT INTO bucket_transactions (bucket_id, type, amount, currency, "
                   "source_kind, source_id, created_at) VALUES ('core', ?, ?, ?, "
                   "'manual', ?, 0)", (kind, str(amount), currency, f"op-{next(_SERIAL)}"))


_ONE_ROW = ("WHERE id = (SELECT id FROM bucket_transactions ORDER BY id LIMIT 1 "
            "OFFSET ? % (SELECT COUNT(*) FROM bucket_transactions))")


@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(_ops)
def test_the_reader_equals_a_full_read(store: SqliteStore, other_store: SqliteStore,
                                       ops: list[tuple[str, object]]) -> None:
    other = other_store
    with store.transaction() as tx:  # the ledger is never empty below: an edit or a
        _insert(tx, [("EUR", 1, "deposit")])  # deletion always targets a row
    reader = BookReader()
    for op, arg in ops:
        if op in ("append", "other"):
            with (store if op == "append" else other).transaction() as tx:
                _insert(tx, arg)  # type: ignore[arg-type]
        elif op == "rollback":
            with pytest.raises(_RolledBack), store.transaction() as tx:
                _insert(tx, arg)  # type: ignore[arg-type]
                raise _RolledBack
        else:
            sql = ("UPDATE bucket_transactions SET amount = '0' " if op == "update"
                   else "DELETE FROM bucket_transactions ")
            with pytest.raises(StoreError, match="append-only"):
                (store if op == "update" else other).execute(sql + _ONE_ROW, (arg,))
        fresh = load_book(SqliteBucketLedger(store))
        cached = reader.load(SqliteBucketLedger(store))
        assert cached.entries == fresh.entries
        assert cached.balances() == fresh.balances()
        assert {e.key for e in cached.entries} == {e.key for e in fresh.entries}
        assert all(cached.has(e) for e in fresh.entries)
