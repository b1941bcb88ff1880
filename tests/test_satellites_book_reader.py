"""The incremental ledger reader always equals a full read of the bucket ledger."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from arduino_trader.adapters.store import satellites_repo as repo
from arduino_trader.adapters.store.sqlite import SqliteStore
from arduino_trader.daemon.io_loop import IoLoop

_rows = st.lists(st.tuples(st.sampled_from(["EUR", "USD"]),
                           st.decimals(-500, 500, places=2, allow_nan=False),
                           st.sampled_from(["deposit", "fee", "dividend"])),
                 min_size=0, max_size=4)
_ops = st.lists(st.one_of(st.tuples(st.just("append"), _rows),
                          st.tuples(st.just("delete"), st.integers(0, 20))),
                min_size=1, max_size=8)


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(_ops)
def test_the_reader_equals_a_full_read(io: IoLoop, store: SqliteStore,
                                       ops: list[tuple[str, object]]) -> None:
    store.execute("DELETE FROM bucket_transactions")
    reader = repo.BookReader()
    serial = 0
    for op, arg in ops:
        if op == "append":
            for currency, amount, kind in arg:  # type: ignore[union-attr]
                serial += 1
                store.execute(
                    "INSERT INTO bucket_transactions (bucket_id, type, amount, currency, "
                    "source_kind, source_id, created_at) VALUES ('core', ?, ?, ?, "
                    "'manual', ?, 0)", (kind, str(amount), currency, f"op-{serial}"))
        else:  # never done by the daemon (the ledger is append-only): a full re-read
            store.execute("DELETE FROM bucket_transactions WHERE id = (SELECT id "
                                 "FROM bucket_transactions ORDER BY id LIMIT 1 OFFSET ?)",
                                 (arg,))
        fresh = repo.load_book(store)
        cached = reader.load(store)
        assert cached.entries == fresh.entries
        assert cached.balances() == fresh.balances()
        assert {e.key for e in cached.entries} == {e.key for e in fresh.entries}
        assert all(cached.has(e) for e in fresh.entries)
