"""Every fault the sandbox can inject reaches the caller as a typed error, never as empty.

Orders are never retried blindly: an accepted-then-dropped order is found again by its
client id and exists exactly once at the broker.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from arduino_trader.adapters.sandbox.server import SandboxThread
from arduino_trader.adapters.tradernet.client import (
    BrokerCircuitOpen,
    BrokerTimeout,
    TradernetClient,
)
from arduino_trader.protocols.broker import OrderRequest
from arduino_trader.protocols.broker_errors import (
    BrokerProtocolError,
    BrokerRateLimited,
    BrokerRejected,
    BrokerUnavailable,
    OrderNotPlaced,
    OrderOutcomeUnknown,
)
from tests.broker_support import make_client, running_sandbox


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[SandboxThread]:
    with running_sandbox(tmp_path / "sandbox.json") as thread:
        yield thread


@pytest.fixture
async def client(sandbox: SandboxThread) -> AsyncIterator[TradernetClient]:
    c = make_client(sandbox.url, timeout_s=0.3, order_timeout_s=0.3)
    yield c
    await c.close()


def orders_with(sandbox: SandboxThread, uid: int) -> list[dict[str, object]]:
    return [o for o in sandbox.sandbox.account.state["orders"] if o["user_order_id"] == uid]


def calls(sandbox: SandboxThread, command: str) -> int:
    return sandbox.sandbox.requests.count(command)


# ---------------------------------------------------------------------- reads
@pytest.mark.parametrize("kind,extra", [
    ("latency", {"delay_s": 0.6}),
    ("rate_limit", {}),
    ("errmsg", {"code": 14}),
    ("malformed", {}),
    ("http_error", {"status": 502}),
    ("drop", {}),
])
async def test_read_faults_are_retried_then_answered(client: TradernetClient,
                                                     sandbox: SandboxThread,
                                                     kind: str, extra: dict[str, object]) -> None:
    sandbox.sandbox.inject(kind, command="getPositionJson", **extra)
    account = await client.account()
    assert account.positions, "the retried read returned the real account"
    assert calls(sandbox, "getPositionJson") == 2


@pytest.mark.parametrize("kind,extra,error", [
    ("latency", {"delay_s": 0.6}, BrokerTimeout),
    ("rate_limit", {}, BrokerRateLimited),
    ("errmsg", {"code": 14}, BrokerUnavailable),
    ("malformed", {}, BrokerProtocolError),
    ("http_error", {"status": 503}, BrokerUnavailable),
    ("drop", {}, BrokerUnavailable),
])
async def test_persistent_read_faults_raise_typed_errors(client: TradernetClient,
                                                         sandbox: SandboxThread, kind: str,
                                                         extra: dict[str, object],
                                                         error: type[Exception]) -> None:
    sandbox.sandbox.inject(kind, command="getNotifyOrderJson", times=3, **extra)
    with pytest.raises(error):
        await client.open_orders()  # never "no open orders"
    assert calls(sandbox, "getNotifyOrderJson") == 3  # 1 + 2 retries


async def test_method_error_is_not_retried(client: TradernetClient,
                                           sandbox: SandboxThread) -> None:
    sandbox.sandbox.inject("errmsg", command="getPositionJson", code=2,
                           message="Bad request: something")
    with pytest.raises(BrokerRejected):
        await client.account()
    assert calls(sandbox, "getPositionJson") == 1


# --------------------------------------------------------------------- orders
async def test_accepted_then_dropped_order_is_found_and_placed_once(
        client: TradernetClient, sandbox: SandboxThread) -> None:
    sandbox.sandbox.inject("drop_after_accept", command="putTradeOrder")
    ack = await client.place_order(OrderRequest("AAPL.US", "BUY", 1, user_order_id=1001))
    assert ack.recovered is True
    placed = orders_with(sandbox, 1001)
    assert len(placed) == 1 and placed[0]["order_id"] == ack.order_id
    assert calls(sandbox, "putTradeOrder") == 1


async def test_slow_accept_past_the_timeout_is_found(client: TradernetClient,
                                                     sandbox: SandboxThread) -> None:
    sandbox.sandbox.inject("latency", command="putTradeOrder", delay_s=0.4)
    # The order lands at ~0.4 s; lookups at ~0.4, ~1.0, ~1.9 s: the first may miss it, and
    # "not placed" is never concluded while later lookups may still find it.
    slow = make_client(sandbox.url, order_timeout_s=0.1, lookup_delay_s=0.3)
    try:
        ack = await slow.place_order(OrderRequest("AAPL.US", "BUY", 1, user_order_id=1002))
    finally:
        await slow.close()
    assert ack.recovered is True
    assert len(orders_with(sandbox, 1002)) == 1
    assert calls(sandbox, "putTradeOrder") == 1


async def test_dropped_before_processing_is_confirmed_not_placed(
        client: TradernetClient, sandbox: SandboxThread) -> None:
    sandbox.sandbox.inject("drop", command="putTradeOrder")
    with pytest.raises(OrderNotPlaced):
        await client.place_order(OrderRequest("AAPL.US", "BUY", 1, user_order_id=1003))
    assert orders_with(sandbox, 1003) == []
    assert calls(sandbox, "putTradeOrder") == 1


async def test_lost_answer_and_failed_lookup_is_unknown(client: TradernetClient,
                                                        sandbox: SandboxThread) -> None:
    sandbox.sandbox.inject("drop_after_accept", command="putTradeOrder")
    sandbox.sandbox.inject("errmsg", command="getNotifyOrderJson", times=50, code=14)
    with pytest.raises(OrderOutcomeUnknown) as info:
        await client.place_order(OrderRequest("AAPL.US", "BUY", 1, user_order_id=1004))
    assert info.value.user_order_id == 1004
    assert len(orders_with(sandbox, 1004)) == 1  # it exists: the caller must reconcile
    assert calls(sandbox, "putTradeOrder") == 1


@pytest.mark.parametrize("kind,error", [("rate_limit", BrokerRateLimited),
                                        ("errmsg", BrokerUnavailable),
                                        ("malformed", OrderNotPlaced),
                                        ("http_error", OrderNotPlaced)])
async def test_order_faults_never_double_place(client: TradernetClient, sandbox: SandboxThread,
                                               kind: str, error: type[Exception]) -> None:
    sandbox.sandbox.inject(kind, command="putTradeOrder")
    with pytest.raises(error):
        await client.place_order(OrderRequest("AAPL.US", "BUY", 1, user_order_id=1005))
    assert calls(sandbox, "putTradeOrder") == 1
    assert orders_with(sandbox, 1005) == []


# -------------------------------------------------------------------- breaker
async def test_breaker_opens_then_recovers(sandbox: SandboxThread) -> None:
    client = make_client(sandbox.url, read_retries=0, breaker_failures=3,
                         breaker_cooldown_s=0.3)
    try:
        sandbox.sandbox.inject("http_error", times=3, status=502)
        for _ in range(3):
            with pytest.raises(BrokerUnavailable):
                await client.account()
        sent = len(sandbox.sandbox.requests)
        with pytest.raises(BrokerCircuitOpen):
            await client.account()
        assert len(sandbox.sandbox.requests) == sent, "an open breaker sends nothing"
        assert client.breaker_state().state == "open"
        import asyncio
        await asyncio.sleep(0.35)
        assert (await client.account()).positions
        assert client.breaker_state().state == "closed"
    finally:
        await client.close()


def test_faults_can_be_queued_over_http(sandbox: SandboxThread) -> None:
    req = urllib.request.Request(sandbox.url + "/sandbox/faults", method="POST",
                                 data=json.dumps({"kind": "rate_limit", "times": 2}).encode())
    with urllib.request.urlopen(req, timeout=5) as resp:
        assert json.loads(resp.read()) == {"queued": "rate_limit", "faults": 1}
    bad = urllib.request.Request(sandbox.url + "/sandbox/faults", method="POST",
                                 data=json.dumps({"kind": "meteor"}).encode())
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(bad, timeout=5)
    assert info.value.code == 400
    clear = urllib.request.Request(sandbox.url + "/sandbox/faults", method="DELETE")
    with urllib.request.urlopen(clear, timeout=5) as resp:
        assert json.loads(resp.read()) == {"faults": 0}
