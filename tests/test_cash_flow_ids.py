"""A broker deposit is booked once whatever shape its id takes from one answer to the
next: absent (a content key), ``77``, ``"77"``, ``77.0``, ``"77.0"``; and a row stored
by an earlier version under ``ucf:77.0`` is the same record as ``ucf:77``."""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from arduino_trader.actors.cash_flows import core_only_context
from arduino_trader.adapters.store import fx_tables
from arduino_trader.adapters.store.cash_flow_repo import SqliteCashFlowStore
from arduino_trader.adapters.store.sqlite import SqliteStore
from arduino_trader.daemon.io_loop import IoLoop
from arduino_trader.domain.cash_flows.effects import rules
from arduino_trader.domain.cash_flows.keys import broker_key
from arduino_trader.domain.cash_flows.normalise import normalise_sources

D = Decimal
AT = datetime(2026, 3, 10, 11, 0, tzinfo=UTC)
DAY = AT.date().isoformat()
_EXAMPLE = itertools.count(1)
SHAPES = ("none", "int", "str", "float", "float_str")


def _row(flow_id: int, cents: int, shape: str, day: str = DAY) -> dict[str, Any]:
    row: dict[str, Any] = {"type_code": "card", "sum": f"{cents / 100:.2f}",
                           "currency": "EUR", "date": day}
    ids: dict[str, Any] = {"int": flow_id, "str": str(flow_id), "float": float(flow_id),
                           "float_str": f"{flow_id}.0"}
    if shape in ids:
        row["id"] = ids[shape]
    return row


def _sync(io: IoLoop, store: SqliteStore, rows: list[dict[str, Any]]) -> None:
    """One cash-flow sync as the actor runs it: the answer's keys are ``present``."""
    batch, failures = normalise_sources({"user_cash_flow": rows})
    assert not failures and not [r for r in batch.rejections if not r.ignorable]
    present = frozenset(r.key for r in batch.records)
    rates = fx_tables.load_rates(store)
    for record in batch.records:
        SqliteCashFlowStore(store).store_record(record, rules(core_only_context(rates)), AT,
                                                present)


def _booked(io: IoLoop, store: SqliteStore) -> tuple[int, D]:
    rows = store.fetch_all("SELECT amount FROM cash_flows")
    ledger = store.fetch_all("SELECT amount FROM bucket_transactions")
    assert sum(D(r["amount"]) for r in rows) == sum(D(r["amount"]) for r in ledger)
    return len(rows), sum((D(r["amount"]) for r in ledger), D(0))


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(deposits=st.lists(st.tuples(st.sampled_from([10_000, 25_050, 77_700]),
                                   st.integers(0, 4)), min_size=1, max_size=3),
       spellings=st.lists(st.lists(st.sampled_from(SHAPES[1:]), min_size=3, max_size=3),
                          min_size=1, max_size=4))
def test_each_deposit_is_booked_once_whatever_its_id_looks_like(
        io: IoLoop, store: SqliteStore, deposits: list[tuple[int, int]],
        spellings: list[list[str]]) -> None:
    """Every answer lists every deposit (the broker sends its whole history); a deposit
    has no id until answer ``k``, then its id in any spelling. Equal amounts on one day
    are separate deposits."""
    n = next(_EXAMPLE)  # each example its own ids and day (the store is shared)
    base, day = 1000 * n, (AT.date() - timedelta(days=n)).isoformat()
    before_rows, before_total = _booked(io, store)
    for step, spelled in enumerate([*spellings, ["int"] * 3]):
        _sync(io, store, [_row(base + i, cents, spelled[i] if step >= k else "none", day)
                          for i, (cents, k) in enumerate(deposits)])
    rows, total = _booked(io, store)
    assert rows - before_rows == len(deposits)
    assert total - before_total == D(sum(c for c, _ in deposits)) / 100
    _sync(io, store, [_row(base + i, c, "float", day) for i, (c, _) in enumerate(deposits)])
    assert _booked(io, store) == (rows, total)  # a re-sync changes nothing


def test_a_row_stored_under_a_float_id_is_the_same_record(io: IoLoop,
                                                          store: SqliteStore) -> None:
    # an earlier version kept the id as the broker spelled it
    (record,) = normalise_sources({"user_cash_flow": [_row(77, 5000, "int")]})[0].records
    assert record.key == broker_key("user_cash_flow", "77.0") == "ucf:77"
    rates = fx_tables.load_rates(store)
    SqliteCashFlowStore(store).store_record(replace(record, key="ucf:77.0"),
                                            rules(core_only_context(rates)), AT)
    for shape in ("int", "float", "float_str", "str"):
        _sync(io, store, [_row(77, 5000, shape)])
    assert _booked(io, store) == (1, D("50"))
