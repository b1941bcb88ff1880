"""The FX endpoints on a running daemon: the FX ledger newest first, and a manual exchange
through the executor; bad input is a 400 with a stable code and writes nothing."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from daemon_harness import Client, ProbeDaemon, start_daemon

from arduino_trader.adapters.clock import ManualClock
from arduino_trader.adapters.store import market_repo
from arduino_trader.adapters.store.order_journal import NewOrder, SqliteOrderJournal
from arduino_trader.domain.execution.journal import FollowUp
from arduino_trader.domain.execution.orders import client_order_id
from arduino_trader.protocols.execution import OrderIntent
from arduino_trader.protocols.market_data import FxRate
from arduino_trader.protocols.order_journal import FxFill

START = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)  # a Tuesday: the FX market is open


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[ProbeDaemon]:
    d = start_daemon(tmp_path / "state", clock=ManualClock(START))
    yield d
    d.gate.set()
    d.stop()


@pytest.fixture
def api(daemon: ProbeDaemon) -> Client:
    return Client(daemon)


def _count(daemon: ProbeDaemon, table: str) -> int:
    row = daemon.store.fetch_one(f"SELECT COUNT(*) FROM {table}")
    assert row is not None
    return int(row[0])


EXCHANGE = {"from": "EUR", "to": "USD", "amount": "100", "request_id": "fx-api"}


@pytest.mark.parametrize(("body", "error"), [
    ({**EXCHANGE, "from": "CHF"}, "invalid_field"),
    ({**EXCHANGE, "to": 7}, "invalid_field"),
    ({**EXCHANGE, "to": "EUR"}, "invalid_field"),
    ({**EXCHANGE, "from": "GBP", "to": "HKD"}, "fx_pair_unsupported"),
    ({**EXCHANGE, "amount": "ten"}, "invalid_field"),
    ({**EXCHANGE, "amount": 0}, "invalid_field"),
    ({**EXCHANGE, "amount": "-5"}, "invalid_field"),
    ({**EXCHANGE, "amount": True}, "invalid_field"),
    ({**EXCHANGE, "amount": "1e12"}, "invalid_field"),
    ({**EXCHANGE, "request_id": 5}, "invalid_field"),
    ({**EXCHANGE, "extra": 1}, "unknown_field"),
    ({"from": "EUR", "amount": "1"}, "missing_field"),
    ({k: v for k, v in EXCHANGE.items() if k != "request_id"}, "missing_field"),
])
def test_bad_exchanges_are_refused_and_write_nothing(daemon: ProbeDaemon, api: Client,
                                                     body: dict[str, Any], error: str) -> None:
    code, answer = api.call("POST", "/api/fx/exchange", body)
    assert (code, answer["error"]) == (400, error), answer
    for table in ("orders", "order_rejections", "fx_trades"):
        assert _count(daemon, table) == 0, table


def test_an_exchange_needs_the_token(daemon: ProbeDaemon, api: Client) -> None:
    assert api.call("POST", "/api/fx/exchange", EXCHANGE, token=None)[0] == 401
    assert api.call("POST", "/api/fx/exchange", EXCHANGE, token="nope")[0] == 403
    assert _count(daemon, "orders") == 0


def test_an_exchange_goes_through_the_executor_layers(daemon: ProbeDaemon,
                                                      api: Client) -> None:
    market_repo.write_fx(daemon.store, [
        FxRate("USD", Decimal(1) / Decimal("1.085"), START.date(), START, "test")], START)
    code, answer = api.call("POST", "/api/fx/exchange", {**EXCHANGE, "request_id": "r1"})
    # research mode: the paper broker fills the pair order at once
    assert (code, answer["status"], answer["state"]) == (200, "placed", "filled"), answer
    assert (answer["symbol"], answer["side"], answer["mode"]) == ("EUR/USD", "SELL",
                                                                  "research")
    assert Decimal(answer["min_receive"]) >= 100
    again = api.call("POST", "/api/fx/exchange", {**EXCHANGE, "request_id": "r1"})
    assert again[0] == 200 and again[1]["status"] == "duplicate"
    assert _count(daemon, "orders") == 1
    code, ledger = api.call("GET", "/api/fx/trades")
    (fill,) = ledger["trades"]
    assert (fill["symbol"], Decimal(fill["base_amount"])) == ("EUR/USD", -answer["quantity"])
    refused = api.call("POST", "/api/fx/exchange", {**EXCHANGE, "amount": "50000"})
    assert (refused[0], refused[1]["error"]) == (400, "fx_amount_too_large")
    assert _count(daemon, "orders") == 1 and _count(daemon, "order_rejections") == 1


def _fill(daemon: ProbeDaemon, n: int, at: datetime) -> None:
    intent = OrderIntent("FX:EUR/USD", "EUR/USD", "SELL", Decimal(10), "manual")
    cid = SqliteOrderJournal(daemon.store).journal_order(
        NewOrder(intent, f"fx-api:{n}", 10, Decimal("1.08"), "USD", "research"),
        at, client_order_id).record.client_order_id
    fill = FxFill(f"research:{n}", None, "EUR/USD", "SELL", Decimal(10), Decimal("1.08"),
                  "EUR", Decimal(-10), "USD", Decimal("10.80"), at, "manual", "core",
                  "research")
    follow = FollowUp("filled", None, 21, Decimal(10), (), "test")
    SqliteOrderJournal(daemon.store).apply_exchange_follow_up(cid, follow, [fill], at)


def test_the_fx_ledger_lists_newest_first_and_bounds_the_limit(daemon: ProbeDaemon,
                                                               api: Client) -> None:
    assert api.call("GET", "/api/fx/trades") == (200, {"trades": []})
    for n in range(3):
        _fill(daemon, n, START + timedelta(minutes=n))
    code, answer = api.call("GET", "/api/fx/trades?limit=2")
    assert code == 200
    assert [t["trade_key"] for t in answer["trades"]] == ["research:2", "research:1"]
    assert Decimal(answer["trades"][0]["quote_amount"]) == Decimal("10.80")
    for bad in ("0", "501", "x", "-1"):
        code, answer = api.call("GET", f"/api/fx/trades?limit={bad}")
        assert (code, answer["error"]) == (400, "invalid_query"), bad
