"""The latest-rates read equals the ``latest`` of the whole-history read."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from arduino_trader.adapters.store import fx_tables
from arduino_trader.adapters.store.sqlite import SqliteStore
from arduino_trader.daemon.io_loop import IoLoop

ROWS = st.lists(st.tuples(st.sampled_from(["USD", "GBP", "HKD"]),
                          st.integers(0, 6),  # day offset: ties on purpose
                          st.sampled_from(["ecb", "broker", "yahoo"]),
                          st.integers(0, 3),  # fetched_at: ties on purpose
                          st.decimals(min_value=Decimal("0.01"), max_value=Decimal("50"),
                                      places=4)),
                unique_by=lambda r: r[:3], max_size=25)


def _store_rates(io: IoLoop, store: SqliteStore,
                 rows: list[tuple[str, int, str, int, Decimal]]) -> None:
    with store.transaction() as tx:
        tx.execute("DELETE FROM fx_rates")
        tx.executemany(
            "INSERT INTO fx_rates (currency, day, eur_per, source, fetched_at) "
            "VALUES (?, ?, ?, ?, ?)",
            [(c, (date(2024, 1, 1) + timedelta(days=d)).isoformat(), str(r), s, f)
             for c, d, s, f, r in rows])


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=ROWS)
def test_latest_rates_equal_the_newest_of_the_whole_history(
        io: IoLoop, store: SqliteStore, rows: list[tuple[str, int, str, int, Decimal]]) -> None:
    _store_rates(io, store, rows)
    full = fx_tables.load_rates(store)
    latest = fx_tables.load_latest_rates(store)
    assert dict(latest.latest) == dict(full.latest)
    for currency in full.latest:
        assert latest.eur_per(currency) == full.eur_per(currency)


def test_an_unusable_newest_rate_falls_back_to_the_newest_usable_one(
        io: IoLoop, store: SqliteStore) -> None:
    _store_rates(io, store, [("USD", 0, "ecb", 0, Decimal("0.9")),
                             ("USD", 1, "ecb", 0, Decimal("0"))])
    latest = fx_tables.load_latest_rates(store)
    assert latest.eur_per("USD") == Decimal("0.9")
    _store_rates(io, store, [])
    assert dict(fx_tables.load_latest_rates(store).latest) == {}
