"""Our Tradernet client against the sandbox: every port operation, typed and exact."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from arduino_trader.adapters.sandbox.server import SandboxThread
from arduino_trader.adapters.tradernet.client import TradernetClient
from arduino_trader.protocols.broker import OrderRequest
from arduino_trader.protocols.broker_errors import BrokerAuthError, BrokerRejected, OrdersDisabled
from tests.broker_support import make_client, running_sandbox


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[SandboxThread]:
    with running_sandbox(tmp_path / "sandbox.json") as thread:
        yield thread


@pytest.fixture
async def client(sandbox: SandboxThread) -> AsyncIterator[TradernetClient]:
    c = make_client(sandbox.url)
    yield c
    await c.close()


async def test_account_reads_positions_and_every_cash_row(client: TradernetClient) -> None:
    account = await client.account()
    cash = {c.currency: c.amount for c in account.cash}
    assert cash == {"EUR": Decimal("10000"), "USD": Decimal("2500"), "HKD": Decimal("-12.5")}
    assert all(isinstance(c.amount, Decimal) for c in account.cash)
    held = {p.symbol: p for p in account.positions}
    assert set(held) == {"AAPL.US", "VWCE.EU"}
    aapl = held["AAPL.US"]
    assert aapl.quantity == 10 and aapl.avg_price == Decimal("150")
    assert aapl.market_value == aapl.quantity * aapl.market_price
    assert account.simulated is False


async def test_quotes_are_exact_and_consistent(client: TradernetClient) -> None:
    quotes = await client.quotes(("AAPL.US", "700.HK"))
    by = {q.symbol: q for q in quotes}
    assert by["700.HK"].lot == 100 and by["700.HK"].currency == "HKD"
    q = by["AAPL.US"]
    assert q.bid is not None and q.ask is not None and q.last is not None
    assert q.bid < q.ask and q.isin == "US0378331005"
    assert isinstance(q.last, Decimal)
    (single,) = await client.quotes(("SAP.EU",))  # one quote arrives as a bare object
    assert single.symbol == "SAP.EU" and single.currency == "EUR"


async def test_market_order_moves_through_statuses_to_executed(
        client: TradernetClient, sandbox: SandboxThread) -> None:
    before = await client.account()
    ack = await client.place_order(OrderRequest("AAPL.US", "BUY", 3, user_order_id=4242))
    assert ack.recovered is False
    seen = []
    for _ in range(5):
        order = await client.find_order(4242)
        assert order is not None
        seen.append(order.status)
        if order.terminal:
            break
    assert seen[:3] == [10, 20, 21], seen
    assert order.fills and sum(f.quantity for f in order.fills) == 3
    after = await client.account()
    held = {p.symbol: p.quantity for p in after.positions}
    assert held["AAPL.US"] == 13
    spent = before.cash_in("USD") - after.cash_in("USD")
    trades = await client.trades(date.today() - timedelta(days=1), date.today() + timedelta(days=1))
    mine = [t for t in trades if t.order_id == ack.order_id]
    assert sum(t.quantity for t in mine) == 3
    # the fee comes from the ledger's commission rows; the history row has none
    assert all(t.fee is not None and t.fee > 0 for t in mine)
    fees = sum((t.fee or Decimal(0)) for t in mine)
    assert spent == sum(t.value for t in mine) + fees


async def test_a_fee_is_found_past_pages_shorter_than_asked(
        client: TradernetClient, sandbox: SandboxThread) -> None:
    """The ledger is read for commissions until an empty page: a server answering fewer
    rows than asked does not hide the fee of a trade a few movements back."""
    ack = await client.place_order(OrderRequest("AAPL.US", "BUY", 2, user_order_id=4343))
    for _ in range(5):
        order = await client.find_order(4343)
        assert order is not None
        if order.terminal:
            break
    account = sandbox.sandbox.account
    for i in range(3):  # newer movements in front of the commission
        account.deposit("EUR", Decimal("10"), datetime.now(UTC), comment=f"top-up {i}")
    with account.lock:
        account.state["page_cap"] = 2
    trades = await client.trades(date.today() - timedelta(days=1), date.today() + timedelta(days=1))
    mine = [t for t in trades if t.order_id == ack.order_id]
    assert mine and all(t.fee is not None and t.fee > 0 for t in mine)


async def test_limit_order_waits_and_cancels(client: TradernetClient) -> None:
    ack = await client.place_order(OrderRequest("SAP.EU", "BUY", 2, user_order_id=77,
                                                limit_price=Decimal("1.00")))
    await client.open_orders()
    opened = await client.open_orders()
    assert [o.order_id for o in opened] == [ack.order_id]
    assert opened[0].status == 10 and opened[0].limit_price == Decimal("1")
    await client.cancel_order(ack.order_id)
    order = await client.find_order(77)
    assert order is not None and order.status == 31 and order.terminal
    assert await client.open_orders() == ()


async def test_buy_without_cash_is_rejected_by_status(client: TradernetClient) -> None:
    await client.place_order(OrderRequest("MSFT.US", "BUY", 1000, user_order_id=5))
    for _ in range(3):
        order = await client.find_order(5)
    assert order is not None and order.status == 70


async def test_orders_are_cash_only_and_integer() -> None:
    client = make_client("http://127.0.0.1:9")
    buy = client.order_params(OrderRequest("AAPL.US", "BUY", 1, user_order_id=1))
    sell = client.order_params(OrderRequest("AAPL.US", "SELL", 1, user_order_id=2,
                                            limit_price=Decimal("12.5")))
    assert buy == {"instr_name": "AAPL.US", "action_id": 1, "order_type_id": 1, "qty": 1,
                   "expiration_id": 1, "user_order_id": 1}
    assert sell["action_id"] == 3 and sell["order_type_id"] == 2
    assert sell["limit_price"] == Decimal("12.5")
    with pytest.raises(ValueError):
        OrderRequest("AAPL.US", "BUY", 1.5, user_order_id=1)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        OrderRequest("AAPL.US", "BUY", 0, user_order_id=1)
    with pytest.raises(ValueError):
        OrderRequest("AAPL.US", "BUY", 1_000_001, user_order_id=1)


async def test_orders_refused_unless_allowed_but_cancels_always_pass(
        sandbox: SandboxThread) -> None:
    client = make_client(sandbox.url, orders=False)
    placer = make_client(sandbox.url)
    try:
        with pytest.raises(OrdersDisabled):
            await client.place_order(OrderRequest("AAPL.US", "BUY", 1, user_order_id=9))
        assert sandbox.sandbox.account.state["orders"] == []
        # An order placed while live is still cancelled after the switch to research.
        ack = await placer.place_order(OrderRequest("AAPL.US", "BUY", 1, user_order_id=10,
                                                    limit_price=Decimal("1")))
        await client.cancel_order(ack.order_id)
    finally:
        await client.close()
        await placer.close()
    assert [o["stat"] for o in sandbox.sandbox.account.state["orders"]] == [31]


async def test_wrong_key_is_an_auth_error(sandbox: SandboxThread) -> None:
    for kwargs in ({"private": "nope"}, {"public": "nope"}, {"public": ""}):
        client = make_client(sandbox.url, **kwargs)
        try:
            with pytest.raises(BrokerAuthError):
                await client.account()
        finally:
            await client.close()


async def test_refusals_are_typed(client: TradernetClient) -> None:
    with pytest.raises(BrokerRejected) as info:
        await client.place_order(OrderRequest("NOPE.US", "BUY", 1, user_order_id=10))
    assert info.value.code == 18
    with pytest.raises(BrokerRejected):
        await client.place_order(OrderRequest("700.HK", "BUY", 50, user_order_id=11))
    with pytest.raises(BrokerRejected):
        await client.cancel_order(123456)


async def test_reference_data(client: TradernetClient) -> None:
    info = await client.security_info("700.HK")
    # getSecurityInfo names no lot and no market: the lot comes from the quote's x_lot
    assert (info.lot, info.currency, info.min_step, info.market_id) == (100, "HKD",
                                                                        Decimal("0.2"), None)
    hits = await client.find_security("DE0007164600")
    # the documented finder row has no currency: none is made up
    assert hits[0].symbol == "SAP.EU" and hits[0].currency == ""
    markets = await client.market_status()
    assert {m.code for m in markets} == {"FIX", "EU", "HKEX"} and all(m.is_open for m in markets)
    rates = await client.cross_rates("EUR", ("USD", "HKD"))
    assert rates["USD"] == Decimal("1.085")
    end = datetime.now(UTC)
    bars = await client.daily_history("SAP.EU", end - timedelta(days=30), end)
    assert 15 <= len(bars) <= 23
    assert all(b.low <= min(b.open, b.close) and b.high >= max(b.open, b.close) for b in bars)
    assert bars == tuple(sorted(bars, key=lambda b: b.at))


async def test_cash_flows_and_history(client: TradernetClient) -> None:
    flows = await client.cash_flows()
    assert flows[0].amount == Decimal("10000") and flows[0].currency == "EUR"
    now = datetime.now(UTC)
    assert await client.client_requests(now - timedelta(days=1), now) == ()
    await client.place_order(OrderRequest("VWCE.EU", "SELL", 1, user_order_id=31))
    history = await client.order_history(now - timedelta(hours=1), now + timedelta(hours=1))
    assert [o.user_order_id for o in history] == [31]
    assert history[0].side == "SELL"


async def test_state_survives_a_restart(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    with running_sandbox(state) as first:
        c = make_client(first.url)
        await c.place_order(OrderRequest("AAPL.US", "SELL", 4, user_order_id=1))
        for _ in range(4):
            await c.current_orders()
        before = await c.account()
        await c.close()
    with running_sandbox(state) as second:
        c = make_client(second.url)
        after = await c.account()
        order = await c.find_order(1)
        await c.close()
    assert order is not None and order.status == 21
    assert {p.symbol: p.quantity for p in after.positions} == \
        {p.symbol: p.quantity for p in before.positions}
    assert {p.symbol: p.quantity for p in after.positions}["AAPL.US"] == 6
    assert after.cash == before.cash


async def test_find_order_falls_back_to_history_across_the_day_boundary(
        tmp_path: Path) -> None:
    wall = [1_772_495_940.0]  # 2026-03-02 23:59 UTC
    with running_sandbox(tmp_path / "s.json", wall_time=lambda: wall[0]) as thread:
        client = make_client(thread.url)
        client._wall_time = lambda: wall[0]
        try:
            await client.place_order(OrderRequest("AAPL.US", "BUY", 1, user_order_id=61))
            for _ in range(3):
                await client.current_orders()
            wall[0] += 120  # next UTC day: the executed order is no longer "current"
            assert all(o.user_order_id != 61 for o in await client.current_orders())
            order = await client.find_order(61)
            assert order is not None and order.status == 21
            assert await client.find_order(62) is None
        finally:
            await client.close()


async def test_non_ascii_and_nested_params_pass_the_signature_check(
        client: TradernetClient) -> None:
    # Accepted by the signature check (the answer is a method error, not an auth error).
    with pytest.raises(BrokerRejected):
        await client.security_info("Société Générale 株")
    rates = await client._call("getCrossRatesForDate", {"base_currency": "EUR",
                                                        "currencies": ["USD", "ÄÖÜ"],
                                                        "nested": {"a": [1, {"b": None}]}})
    assert rates == {"rates": {"USD": 1.085}}
