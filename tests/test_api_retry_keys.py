"""Retry keys and query numbers of the money-moving routes, on a running daemon.

Every route that moves money takes a required ``request_id``: without one it is a 400
that writes nothing (a client retry could not be told from a new request); the same key
with the same content is a replay (one effect); the same key with other content is a 409
``request_id_reused`` naming the key, and nothing is written. A number read from the query
string obeys the size rule of every number (``"1e-99999999"`` is 11 bytes, 100 MB written
out): a 400 naming the parameter, nothing written.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from daemon_harness import Client, ProbeDaemon
from reliability_support import (
    FROZEN_START,
    call_unchanged,
    count,
    db_path,
    start_settled_daemon,
)

from arduino_trader.adapters.store import deferred_buys, market_repo
from arduino_trader.adapters.store.order_journal import NewOrder, SqliteOrderJournal
from arduino_trader.daemon.api import order_guard
from arduino_trader.domain.execution.orders import client_order_id
from arduino_trader.protocols.execution import OrderIntent, SubmitOrder
from arduino_trader.protocols.market_data import FxRate

# The daemon lives for the module: the conftest stops no actor after each test.
DAEMON_FOR_THE_MODULE = True

SAT = "/api/satellites"
QUIET = ("job_runs",)
ISIN = "DE0007164600"
ORDER = {"symbol": ISIN, "side": "BUY", "quantity": 3, "confirm": "EXECUTE"}
EXCHANGE = {"from": "EUR", "to": "USD", "amount": "100"}
TRANSFER = {"from_bucket_id": "core", "to_bucket_id": "s1", "amount": "10"}
OVERSIZED = ["1e-99999999", "1e99999999", "0." + "1" * 31, "1e-13"]


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProbeDaemon]:
    order_guard.clear_rate_limits()
    d = start_settled_daemon(tmp_path_factory.mktemp("retry-keys") / "state")
    try:
        api = Client(d)
        assert api.call("POST", f"{SAT}/satellites", {"id": "s1", "name": "Mom",
                                                     "start_in_research": False})[0] == 201
        assert api.call("PUT", f"{SAT}/settings/satellite-budget?budget_pct=0.2")[0] == 200
        market_repo.write_fx(d.store, [FxRate("USD", Decimal(1) / Decimal("1.085"),
                                              FROZEN_START.date(), FROZEN_START, "test")],
                             FROZEN_START)
        yield d
    finally:
        d.stop()


def _reused(daemon: ProbeDaemon, path: str, body: dict[str, Any]) -> None:
    answer = call_unchanged(daemon, "POST", path, body, status=409, exclude=QUIET)
    assert (answer["error"], answer["request_id"]) == ("request_id_reused",
                                                       body["request_id"]), answer
    assert repr(body["request_id"]) in answer["message"], answer


@pytest.mark.parametrize(("path", "body"), [
    (f"{SAT}/balances/deposit", {"amount": "5"}),
    (f"{SAT}/balances/transfer", TRANSFER),
    ("/api/fx/exchange", EXCHANGE),
    ("/api/trades/execute", ORDER),
])
def test_a_money_route_without_a_request_id_is_refused(daemon: ProbeDaemon, path: str,
                                                       body: dict[str, Any]) -> None:
    order_guard.clear_rate_limits()
    answer = call_unchanged(daemon, "POST", path, body, exclude=QUIET)
    assert (answer["error"], answer["field"]) == ("missing_field", "request_id"), answer
    answer = call_unchanged(daemon, "POST", path, {**body, "request_id": ""}, exclude=QUIET)
    assert (answer["error"], answer["field"]) == ("invalid_field", "request_id"), answer


def test_a_transfer_key_reused_for_another_transfer_is_a_409(daemon: ProbeDaemon) -> None:
    api = Client(daemon)
    first = {**TRANSFER, "request_id": "t1"}
    code, moved = api.call("POST", f"{SAT}/balances/transfer", first)
    assert (code, moved["applied"]) == (200, True), moved
    for other in ({"amount": "500"}, {"from_bucket_id": "s1", "to_bucket_id": "core"},
                  {"currency": "USD"}):
        _reused(daemon, f"{SAT}/balances/transfer", {**first, **other})
    code, again = api.call("POST", f"{SAT}/balances/transfer", {**first, "amount": "10.00"})
    assert (code, again["applied"]) == (200, False), again
    assert count(db_path(daemon), "SELECT COUNT(*) FROM bucket_transactions "
                 "WHERE source_id = 't1'") == 2


def test_a_deposit_key_reused_for_another_deposit_is_a_409(daemon: ProbeDaemon) -> None:
    api = Client(daemon)
    first = {"amount": "100", "request_id": "d1"}
    code, done = api.call("POST", f"{SAT}/balances/deposit", first)
    assert (code, done["applied"]) == (200, True), done
    for other in ({"amount": "150"}, {"currency": "USD"}):
        _reused(daemon, f"{SAT}/balances/deposit", {**first, **other})
    code, again = api.call("POST", f"{SAT}/balances/deposit", {**first, "amount": "100.0"})
    assert (code, again["applied"]) == (200, False), again
    assert {b: Decimal(a) for b, a in again["allocations"].items()} == {
        b: Decimal(a) for b, a in done["allocations"].items()}


def test_a_retried_exchange_is_one_exchange(daemon: ProbeDaemon) -> None:
    api = Client(daemon)
    first = {**EXCHANGE, "request_id": "fx-1"}
    code, answer = api.call("POST", "/api/fx/exchange", first)
    assert (code, answer["status"], answer["state"]) == (200, "placed", "filled"), answer
    code, again = api.call("POST", "/api/fx/exchange", {**first, "amount": "100.0"})
    assert (code, again["status"]) == (200, "duplicate"), again
    for other in ({"amount": "200"}, {"from": "USD", "to": "EUR"}):
        _reused(daemon, "/api/fx/exchange", {**first, **other})
    assert count(db_path(daemon), "SELECT COUNT(*) FROM fx_trades") == 1
    assert len(api.call("GET", "/api/fx/trades")[1]["trades"]) == 1


def _journaled(daemon: ProbeDaemon, key: str, quantity: int) -> None:
    """A manual order that was journaled under ``key`` (and ended)."""
    journal = SqliteOrderJournal(daemon.store)
    intent = OrderIntent(ISIN, ISIN, "BUY", Decimal(quantity), "manual")
    record = journal.journal_order(NewOrder(intent, key, quantity, Decimal(100), "EUR",
                                            "research"), FROZEN_START, client_order_id).record
    journal.mark_state(record.client_order_id, "cancelled", "test", FROZEN_START)


def test_an_order_key_reused_for_another_order_is_a_409(daemon: ProbeDaemon) -> None:
    order_guard.clear_rate_limits()
    _journaled(daemon, "manual|o1", 3)
    first = {**ORDER, "request_id": "o1"}
    for other in ({"quantity": 5}, {"side": "SELL"}, {"symbol": "US0378331005"}):
        _reused(daemon, "/api/trades/execute", {**first, **other})
    code, again = Client(daemon).call("POST", "/api/trades/execute", first)
    assert (code, again["status"]) == (200, "duplicate"), again


def test_a_deferred_order_key_reused_for_another_order_is_a_409(daemon: ProbeDaemon) -> None:
    order_guard.clear_rate_limits()
    intent = OrderIntent(ISIN, ISIN, "BUY", Decimal(2), "manual")
    deferred_buys.defer(daemon.store, SubmitOrder(intent, "manual|w1"), "research",
                        FROZEN_START)
    deferred_buys.finish(daemon.store, "manual|w1", "ended", "test", FROZEN_START)
    _reused(daemon, "/api/trades/execute", {**ORDER, "quantity": 4, "request_id": "w1"})


@pytest.mark.parametrize("value", OVERSIZED)
@pytest.mark.parametrize(("path", "name"), [
    (f"{SAT}/settings/satellite-budget", "budget_pct"),
    (f"{SAT}/reconcile/EUR/check", "actual_balance"),
    ("/api/rebalancing/check-triggers", "drift_threshold"),
    ("/api/rebalancing/calculate-trades", "available_cash"),
])
def test_an_oversized_query_number_is_refused_naming_it(daemon: ProbeDaemon, path: str,
                                                        name: str, value: str) -> None:
    method = "PUT" if name == "budget_pct" else "GET"
    answer = call_unchanged(daemon, method, f"{path}?{name}={value}", exclude=QUIET)
    assert answer["field"] == name, answer
    assert name in answer["message"], answer
