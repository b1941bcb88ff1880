"""Money invariants (docs/architecture.md) of the cash-flow sync through the store, over
generated sequences of broker answers: re-syncs, stale and changing statuses, and crashes
between records.

Each broker record yields one ``cash_flows`` row and its ledger rows once; a deposit's
allocations sum to it exactly; a withdrawal debits exactly its amount, once, and only
after it was seen completed; the cached balances equal the ledger; re-syncing changes
nothing; a dividend's euros are consumed at most once, whatever fills replay."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import structlog
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from arduino_trader.actors.base import ActorContext
from arduino_trader.actors.cash_flow_drip import consume_fill
from arduino_trader.actors.cash_flows import core_only_context
from arduino_trader.adapters.clock import ManualClock
from arduino_trader.adapters.store import dividend_repo, fx_tables, market_repo
from arduino_trader.adapters.store.cash_flow_repo import SqliteCashFlowStore
from arduino_trader.adapters.store.sqlite import SqliteStore
from arduino_trader.config.settings import load_settings
from arduino_trader.daemon.bus import ActorBus
from arduino_trader.daemon.io_loop import IoLoop
from arduino_trader.domain.cash_flows.effects import rules
from arduino_trader.domain.cash_flows.normalise import normalise_sources
from arduino_trader.protocols.execution import TradeExecuted
from arduino_trader.protocols.market_data import FxRate
from tests.wiring import wired

D = Decimal
AT = datetime(2026, 3, 10, 11, 0, tzinfo=UTC)
DAY = AT.date().isoformat()
_EXAMPLE = itertools.count()

deposit = st.tuples(st.integers(1, 10**7), st.sampled_from(["EUR", "USD"]))
withdrawal = st.tuples(st.integers(1, 10**6),
                       st.lists(st.sampled_from([1, 2, 3, 4]), min_size=1, max_size=4))


class Crash(RuntimeError):
    """The process died between two records."""


def _answers(prefix: str, deposits: list[tuple[int, str]],
             withdrawals: list[tuple[int, list[int]]], step: int) -> dict[str, Any]:
    flows = [{"id": f"{prefix}d{i}", "type_code": "card", "sum": f"{c / 100:.2f}",
              "currency": ccy, "date": DAY} for i, (c, ccy) in enumerate(deposits)]
    cps = [{"id": f"{prefix}w{i}", "type_doc_id": 337,
            "status_c": statuses[min(step, len(statuses) - 1)], "date_crt": DAY,
            "params": {"totalMoneyOut": f"{c / 100:.2f}", "currency": "EUR"}}
           for i, (c, statuses) in enumerate(withdrawals)]
    return {"user_cash_flow": flows, "cps": cps}


def _sync(io: IoLoop, store: SqliteStore, answers: dict[str, Any],
          crash_after: int | None = None) -> int:
    batch, failures = normalise_sources(answers)  # type: ignore[arg-type]
    assert not failures and not [r for r in batch.rejections if not r.ignorable]
    rates = fx_tables.load_rates(store)
    inserted = 0
    for n, record in enumerate(batch.records):
        if crash_after is not None and n == crash_after:
            raise Crash
        eff = SqliteCashFlowStore(store).store_record(record, rules(core_only_context(rates)),
                                                      AT)
        inserted += eff.action == "insert"
    return inserted


def _ledger(io: IoLoop, store: SqliteStore, prefix: str) -> dict[str, list[tuple[str, D]]]:
    rows = store.fetch_all(
        "SELECT source_id, bucket_id, amount FROM bucket_transactions "
        "WHERE source_id LIKE ?", (f"%:{prefix}%",))
    out: dict[str, list[tuple[str, D]]] = {}
    for r in rows:
        out.setdefault(r["source_id"], []).append((r["bucket_id"], D(r["amount"])))
    return out


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(deposits=st.lists(deposit, max_size=4), withdrawals=st.lists(withdrawal, max_size=3),
       crashes=st.lists(st.integers(0, 6), max_size=3))
def test_every_record_counts_once_whatever_the_sequence(
        io: IoLoop, store: SqliteStore, deposits: list[tuple[int, str]],
        withdrawals: list[tuple[int, list[int]]], crashes: list[int]) -> None:
    market_repo.write_fx(store, [FxRate("USD", D("0.92"), AT.date(), AT, "t")], AT)
    prefix = f"x{next(_EXAMPLE)}-"
    steps = max([len(s) for _, s in withdrawals] + [1])
    for step in range(steps):
        answers = _answers(prefix, deposits, withdrawals, step)
        for crash_after in crashes:  # a crash mid-sync, then the next sync runs
            try:
                _sync(io, store, answers, crash_after)
            except Crash:
                pass
        _sync(io, store, answers)
    final = _answers(prefix, deposits, withdrawals, steps)
    before = _ledger(io, store, prefix)
    assert _sync(io, store, final) == 0 and _ledger(io, store, prefix) == before  # re-sync

    keys = store.fetch_all("SELECT transaction_id FROM cash_flows "
                                  "WHERE transaction_id LIKE ?", (f"%:{prefix}%",))
    assert len(keys) == len({r["transaction_id"] for r in keys}) == \
        len(deposits) + len(withdrawals)
    for i, (cents, _) in enumerate(deposits):
        entries = before[f"ucf:{prefix}d{i}"]
        assert sum(a for _, a in entries) == D(cents) / 100  # split sums exactly
        assert [b for b, _ in entries] == ["core"]  # no satellites: all to core
    for i, (cents, statuses) in enumerate(withdrawals):
        debited = before.get(f"cps:{prefix}w{i}", [])
        if 3 in statuses:
            assert debited == [("core", -D(cents) / 100)]
        else:
            assert debited == []
    balances = store.fetch_all("SELECT currency, balance FROM bucket_balances "
                                      "WHERE bucket_id = 'core'")
    totals = store.fetch_all("SELECT currency, amount FROM bucket_transactions "
                                    "WHERE bucket_id = 'core'")
    expected: dict[str, D] = {}
    for r in totals:
        expected[r["currency"]] = expected.get(r["currency"], D(0)) + D(r["amount"])
    assert {r["currency"]: D(r["balance"]) for r in balances} == expected


fill = st.tuples(st.integers(0, 4), st.integers(1, 5), st.integers(1, 300))


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(amounts=st.lists(st.integers(1, 100_000), min_size=1, max_size=3),
       fills=st.lists(fill, max_size=8))
def test_a_dividend_euro_is_spent_at_most_once(io: IoLoop, store: SqliteStore,
                                               amounts: list[int],
                                               fills: list[tuple[int, int, int]]) -> None:
    symbol = f"S{next(_EXAMPLE)}.EU"
    ctx = ActorContext(bus=ActorBus(), io=io, clock=ManualClock(AT),
                       settings=lambda: load_settings(None, environ={}), deps=wired(
                           store=store))
    ids = [dividend_repo.create_dividend(store, {
        "symbol": symbol, "amount": D(c) / 100, "currency": "EUR",
        "amount_eur": D(c) / 100, "payment_date": f"2026-03-0{i + 1}"}, AT)
        for i, c in enumerate(amounts)]
    first_seen: dict[int, tuple[int, int]] = {}
    for fid, qty, price in fills:  # a repeated fill id is a replay of the same fill
        qty, price = first_seen.setdefault(fid, (qty, price))
        consume_fill(ctx, structlog.get_logger(), TradeExecuted(
            f"live:{symbol}:{fid}", "", symbol, "BUY", D(qty), D(price), "EUR", AT, "drip", "core",
            "live"))
    total = sum(D(c) / 100 for c in amounts)
    spent = sum((D(q * p) for q, p in first_seen.values()), D(0))
    rows = store.fetch_all(
        "SELECT id, amount_eur, allocated_eur, reinvested FROM dividend_history "
        "WHERE symbol = ? ORDER BY id", (symbol,))
    allocations = store.fetch_all(
        "SELECT dividend_id, fill_key, amount_eur FROM dividend_allocations "
        "WHERE symbol = ?", (symbol,))
    assert len({(a["dividend_id"], a["fill_key"]) for a in allocations}) == len(allocations)
    for r in rows:
        allocated = D(r["allocated_eur"])
        assert allocated <= D(r["amount_eur"])  # never beyond the dividend
        assert allocated == sum((D(a["amount_eur"]) for a in allocations
                                 if a["dividend_id"] == r["id"]), D(0))
        assert bool(r["reinvested"]) == (allocated >= D(r["amount_eur"]))
    assert sum(D(r["allocated_eur"]) for r in rows) == min(spent, total)
    assert [r["id"] for r in rows] == ids
