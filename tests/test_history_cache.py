"""The planner's history cache: after any sequence of writes, revisions and deletions by
any writer, it returns exactly what a fresh read of the store returns, re-reading only
what changed (the trigger-written change log of migration 0210)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from arduino_trader.actors.history_cache import HistoryCache
from arduino_trader.adapters.store import price_history_repo, securities_repo
from arduino_trader.adapters.store.price_history_repo import SqlitePriceHistory
from arduino_trader.adapters.store.sqlite import SqliteStore
from arduino_trader.daemon.io_loop import IoLoop
from arduino_trader.protocols.market_data import PriceBar

NOW = datetime(2024, 6, 3, 12, tzinfo=UTC)
A, B = "US0378331005", "DE0007164600"
D0 = date(2024, 1, 1)


def _securities(io: IoLoop, store: SqliteStore) -> None:
    securities_repo.insert_securities(store, [
        {"isin": A, "symbol": "AAPL.US", "name": "Apple", "currency": "USD"},
        {"isin": B, "symbol": "SAP.DE", "name": "SAP", "currency": "EUR"}], NOW)


def _write(io: IoLoop, store: SqliteStore, isin: str, days: range, base: float) -> None:
    bars = [PriceBar(D0 + timedelta(days=i), base + i) for i in days]
    SqlitePriceHistory(store).write_history({isin: (bars, ())}, "test", NOW)


def _fresh(io: IoLoop, store: SqliteStore, isin: str, start: date,
           end: date) -> dict[date, float]:
    return dict(_closes(store, isin, start, end))


def test_appends_are_read_incrementally_and_revisions_invalidate(
        io: IoLoop, store: SqliteStore) -> None:
    _securities(io, store)
    _write(io, store, A, range(0, 100), 100.0)
    _write(io, store, B, range(0, 100), 50.0)
    cache = HistoryCache(SqlitePriceHistory(store))
    start, end = D0 + timedelta(days=10), D0 + timedelta(days=99)
    cache.refresh()
    assert cache.closes(A, start, end) == _fresh(io, store, A, start, end)
    assert cache.closes(B, start, end) == _fresh(io, store, B, start, end)
    reads = cache.reads
    cache.refresh()  # nothing changed: no store read at all
    assert cache.closes(A, start, end) == _fresh(io, store, A, start, end)
    assert cache.reads == reads
    # A new day and a revised old close of A; B unchanged and re-sent identically.
    _write(io, store, A, range(100, 101), 100.0)
    _write(io, store, A, range(40, 41), 7.0)
    _write(io, store, B, range(0, 100), 50.0)
    end = D0 + timedelta(days=100)
    cache.refresh()
    got = cache.closes(A, start, end)
    assert got == _fresh(io, store, A, start, end) and got[D0 + timedelta(days=40)] == 47.0
    assert cache.closes(B, start, end) == _fresh(io, store, B, start, end)
    assert cache.reads == reads + 2  # A from the revised day on; B only the new end


def test_a_pruned_log_or_another_database_reloads(io: IoLoop, store: SqliteStore) -> None:
    _securities(io, store)
    _write(io, store, A, range(0, 30), 100.0)
    cache = HistoryCache(SqlitePriceHistory(store))
    start, end = D0, D0 + timedelta(days=40)
    cache.refresh()
    cache.closes(A, start, end)
    _write(io, store, A, range(5, 6), 1.0)
    store.execute("DELETE FROM history_change_log")  # pruned past the cache
    _write(io, store, A, range(31, 32), 100.0)
    cache.refresh()
    assert cache.closes(A, start, end) == _fresh(io, store, A, start, end)


_ops = st.lists(st.tuples(st.sampled_from(["write", "other", "delete", "read"]),
                          st.sampled_from([A, B]), st.integers(0, 60), st.integers(1, 20),
                          st.floats(1.0, 500.0)), min_size=1, max_size=12)


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(_ops, st.integers(0, 40), st.integers(0, 40))
def test_always_equals_a_fresh_read(io: IoLoop, store: SqliteStore,
                                    other_store: SqliteStore,
                                    ops: list[tuple[str, str, int, int, float]],
                                    lo: int, width: int) -> None:
    """Writes and deletions by the cache's own connection and by another one ("other":
    the change log is written by triggers, so every writer is seen)."""
    store.execute("DELETE FROM price_history")
    if not store.fetch_all("SELECT isin FROM securities"):
        _securities(io, store)
    cache = HistoryCache(SqlitePriceHistory(store))
    start, end = D0 + timedelta(days=lo), D0 + timedelta(days=lo + width)
    for op, isin, first, count, base in ops:
        if op in ("write", "other"):
            _write(io, store if op == "write" else other_store, isin,
                   range(first, first + count), base)
        elif op == "delete":
            writer = other_store if count % 2 else store
            writer.execute("DELETE FROM price_history WHERE isin = ? AND day >= ?",
                           (isin, (D0 + timedelta(days=first)).isoformat()))
        else:  # the planning window moves on: later days come in, older ones drop out
            end += timedelta(days=count % 3)
            start += timedelta(days=count % 2)
        cache.refresh()
        assert [c.as_dict() for c in cache.closes_many([A, B], start, end)] == [
            _fresh(io, store, i, start, end) for i in (A, B)]


def _closes(store: SqliteStore, isin: str, start: date | None = None,
            end: date | None = None) -> list[tuple[date, float]]:
    """One ISIN's closes read through its whole bars (the reference of the batched reads)."""
    return [(b.day, b.close) for b in price_history_repo.read_history(store, isin, start, end)]


def test_batched_reads_equal_the_single_ones(io: IoLoop, store: SqliteStore) -> None:
    assert not securities_repo.has_securities(store)
    _securities(io, store)
    assert securities_repo.has_securities(store)
    _write(io, store, A, range(0, 50), 100.0)
    _write(io, store, B, range(10, 15), 50.0)
    many = SqlitePriceHistory(store).recent_closes_many([A, B, "XX0000000000"], 30)
    assert many == {A: [c for _, c in _closes(store, A)][-30:],
                    B: [c for _, c in _closes(store, B)][-30:], "XX0000000000": []}
    before = SqlitePriceHistory(store).closes_before(A, D0 + timedelta(days=20), 5)
    assert before == [(D0 + timedelta(days=i), 100.0 + i) for i in range(15, 20)]
    start, end = D0 + timedelta(days=5), D0 + timedelta(days=12)
    assert SqlitePriceHistory(store).read_closes_many([A, B], start, end) == {
        A: _closes(store, A, start, end), B: _closes(store, B, start, end)}
