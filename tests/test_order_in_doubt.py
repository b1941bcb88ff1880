"""A placement whose answer is lost stays unresolved until the broker answers: the slow
broker that accepts the order after the client gave up ends with one order at the broker
and a filled journal entry, without a restart; the API never calls it a failure."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from daemon_harness import wait_for
from live_rig import AAPL, LiveRig, live_rig

from arduino_trader.domain.execution.placement import (
    after_failure,
    unresolved_report,
)
from arduino_trader.protocols.broker_errors import (
    BrokerRateLimited,
    BrokerRejected,
    BrokerUnavailable,
    OrderNotPlaced,
    OrdersDisabled,
)
from arduino_trader.protocols.order_journal import JournalRecord

ORDER = {"symbol": AAPL[0], "side": "BUY", "quantity": 1, "confirm": "EXECUTE"}


def _health_reasons(rig: LiveRig) -> list[str]:
    code, body = rig.api.call("GET", "/health")
    assert code == 200, body
    return [str(r) for r in body["reasons"]]


def _settle(rig: LiveRig, client_id: int) -> str:
    """Follow-ups until the entry is final (the sandbox fills in steps)."""
    state = ""
    for _ in range(8):
        rig.run("order_follow_up")
        state = next(o["state"] for o in rig.journal() if o["client_order_id"] == client_id)
        if state in ("filled", "cancelled", "rejected", "expired", "not_placed"):
            break
    return state


def test_broker_accepting_after_the_timeout_ends_filled_once(tmp_path: Path) -> None:
    # The client gives up after 1 s and looks the order up at +2, +4 and +6 s; the
    # sandbox answers putTradeOrder (and books the order) only after 16 s.
    with live_rig(tmp_path, ARDUINO_TRADER_BROKER__ORDER_TIMEOUT_S="1") as rig:
        rig.sandbox.sandbox.inject("latency", command="putTradeOrder", delay_s=16)
        code, body = rig.api.call("POST", "/api/trades/execute",
                                  {**ORDER, "request_id": "slow-1"})
        assert code == 202, body
        assert (body["status"], body["error"], body["state"]) == (
            "unresolved", "outcome_unknown", "unresolved"), body
        assert "do not retry" in body["message"]
        cid = int(body["order_id"])
        assert rig.broker_orders(cid) == []  # still in flight at the broker
        wait_for(lambda: any(f"client id {cid}" in r for r in _health_reasons(rig)),
                 what="health names the unresolved order")
        code, health = rig.api.call("GET", "/health")
        assert health["status"] == "degraded", health

        # The same request again is the same order, whatever the outcome.
        again_code, again = rig.api.call("POST", "/api/trades/execute",
                                         {**ORDER, "request_id": "slow-1"})
        assert (again_code, again["status"]) == (200, "duplicate"), again

        wait_for(lambda: len(rig.broker_orders(cid)) == 1, timeout=30,
                 what="the slow broker books the order")
        assert _settle(rig, cid) == "filled"
        assert len(rig.broker_orders(cid)) == 1
        assert len(rig.broker_orders()) == 1
        fills = [t for t in rig.trades() if t["broker_order_id"] is not None]
        assert sum(int(t["quantity"]) for t in fills) == 1, fills
        assert not any(f"client id {cid}" in r for r in _health_reasons(rig))


@pytest.mark.parametrize(("error", "state"), [
    (BrokerRejected("putTradeOrder: insufficient funds"), "rejected"),
    (OrdersDisabled("orders are refused: trading_mode is not live"), "not_placed"),
    (OrderNotPlaced("answer lost and no order appeared in 3 lookups"), "unresolved"),
    (BrokerRateLimited("HTTP 429"), "unresolved"),
    (BrokerUnavailable("connection reset"), "unresolved"),
    (TimeoutError(), "unresolved"),
])
def test_only_a_definite_answer_is_final(error: Exception, state: str) -> None:
    assert after_failure(error).state == state


def test_unresolved_report_names_each_order() -> None:
    assert unresolved_report([])[0] == "ok"
    at = datetime(2026, 3, 2, tzinfo=UTC)
    rows = [JournalRecord(
        client_order_id=10 + i, intent_key=f"k{i}", isin=AAPL[0], symbol=AAPL[1], side="BUY",
        quantity=1, limit_price=Decimal(150), currency="USD", source="manual",
        bucket_id="core", mode="live", state="unresolved", filled_quantity=Decimal(0),
        created_at=at, updated_at=at) for i in range(7)]
    level, message = unresolved_report(rows)
    assert level == "degraded"
    assert "client id 10 (BUY 1 AAPL.US, live)" in message and "2 more" in message


def test_throttled_placement_is_unknown_not_placed_until_the_grace(tmp_path: Path) -> None:
    """A 429 at placement: the API says "outcome unknown" (never "placed"); the follow-up
    concludes not placed only once the broker had its grace and shows no such order."""
    with live_rig(tmp_path) as rig:
        rig.sandbox.sandbox.inject("rate_limit", command="putTradeOrder", delay_s=0)
        code, body = rig.api.call("POST", "/api/trades/execute",
                                  {**ORDER, "request_id": "throttled-1"})
        assert (code, body["status"], body["error"]) == (202, "unresolved", "outcome_unknown")
        cid = int(body["order_id"])
        rig.run("order_follow_up")
        assert [o["state"] for o in rig.journal()] == ["unresolved"]
        rig.clock.offset += timedelta(minutes=6)  # past the broker's grace
        rig.run("order_follow_up")
        assert [o["state"] for o in rig.journal()] == ["not_placed"]
        assert rig.broker_orders(cid) == [] and rig.trades() == []
        code, status = rig.api.call("GET", "/api/system/status")
        assert status["components"]["orders"]["level"] == "ok", status["components"]


def test_each_failure_keeps_the_runbooks_event_name() -> None:
    assert after_failure(TimeoutError()).event == "order_outcome_unknown"
    assert after_failure(BrokerRejected("no")).event == "order_rejected_by_broker"
    assert after_failure(OrdersDisabled("off")).event == "order_not_placed"
