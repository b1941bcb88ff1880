"""Order events on the daemon's event stream, from the real executor path (research
mode, paper broker, bundled history): an executed step is ``order_placed`` then
``order_filled`` on ``GET /api/events/stream``, and an order a safety layer refuses is
``order_refused`` with its layer and code."""

from __future__ import annotations

import json
import time
import urllib.request
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from daemon_harness import Client, start_daemon, wait_for
from test_event_streams import _read_block
from test_planner_api import FAST, _history_loaded

from arduino_trader.adapters.clock import ManualClock
from arduino_trader.daemon.api import order_guard

AAPL = "US0378331005"


def _events_until(stream: Any, kinds: set[str], timeout: float = 60) -> list[dict[str, Any]]:
    """Blocks from the stream until every kind in ``kinds`` arrived (bounded wait)."""
    seen: list[dict[str, Any]] = []
    end = time.monotonic() + timeout
    while not kinds <= {e["event"] for e in seen}:
        assert time.monotonic() < end, f"missing {kinds - {e['event'] for e in seen}}"
        block = _read_block(stream)
        if "event" in block:
            seen.append({"event": block["event"], "id": int(block["id"]),
                         "data": json.loads(block["data"])})
    return seen


def test_an_executed_order_is_placed_then_filled_and_a_refusal_is_streamed(
        tmp_path: Path) -> None:
    order_guard.clear_rate_limits()
    clock = ManualClock(datetime(2022, 12, 20, 15, 0, tzinfo=UTC))  # NASDAQ open
    daemon = start_daemon(tmp_path / "state", env=FAST, clock=clock)
    try:
        wait_for(lambda: _history_loaded(daemon), 90, "bundled history and FX")
        daemon.io.run(daemon._broker_pair()[1].deposit("USD", Decimal("5000")), 10)
        api = Client(daemon)
        stream = urllib.request.urlopen(f"{api.base}/api/events/stream", timeout=30)
        assert _read_block(stream) == {"retry": "3000"}
        code, answer = api.call("POST", "/api/trades/execute", {
            "symbol": AAPL, "side": "BUY", "quantity": 5, "confirm": "EXECUTE",
            "request_id": "events-1"})
        assert code == 200 and answer["state"] == "filled", answer
        events = _events_until(stream, {"order_placed", "order_filled"})
        placed = next(e for e in events if e["event"] == "order_placed")
        filled = next(e for e in events if e["event"] == "order_filled")
        assert placed["id"] < filled["id"]  # placed first
        assert placed["data"]["client_order_id"] == answer["order_id"]
        assert (placed["data"]["isin"], placed["data"]["side"], placed["data"]["source"],
                placed["data"]["mode"]) == (AAPL, "BUY", "manual", "research")
        assert Decimal(str(placed["data"]["quantity"])) == 5
        assert (filled["data"]["isin"], filled["data"]["side"]) == (AAPL, "BUY")
        assert Decimal(str(filled["data"]["quantity"])) == 5
        # beyond the position limit: refused by a safety layer, and streamed as such
        code, refused = api.call("POST", "/api/trades/execute", {
            "symbol": AAPL, "side": "BUY", "quantity": 30, "confirm": "EXECUTE",
            "request_id": "events-2"})
        assert code == 400, refused
        (event,) = [e for e in _events_until(stream, {"order_refused"})
                    if e["event"] == "order_refused"]
        assert (event["data"]["isin"], event["data"]["layer"], event["data"]["code"]) == (
            AAPL, refused["layer"], refused["error"])
        stream.close()
    finally:
        daemon.stop()
