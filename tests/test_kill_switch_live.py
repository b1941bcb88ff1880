"""The kill switch as the owner calls it, in live mode against the sandbox: the mode
becomes research first, and the live orders still open are cancelled at the broker they
were sent to; the answer lists each one, and the CLI fails when one could not be."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from live_rig import AAPL, MSFT, LiveRig, live_rig

from arduino_trader.daemon.cli import main

ACTIVE = (1, 10)  # received, placed: what the sandbox can still fill


def _two_open_orders(rig: LiveRig) -> list[int]:
    """Two live orders the sandbox keeps open (its US market takes no fills for now)."""
    with rig.sandbox.sandbox.account.lock:
        rig.sandbox.sandbox.account.state["closed_markets"] = ["FIX"]
    ids = []
    for n, (isin, *_rest) in enumerate((AAPL, MSFT)):
        code, body = rig.api.call("POST", "/api/trades/execute", {
            "symbol": isin, "side": "BUY", "quantity": 1, "confirm": "EXECUTE",
            "request_id": f"kill-{n}"})
        assert code == 200 and body["state"] == "sent", body
        ids.append(int(body["order_id"]))
    assert [o["stat"] for o in rig.broker_orders()] == [10, 10]
    return ids


def _open_at_broker(rig: LiveRig) -> list[dict[str, Any]]:
    return [o for o in rig.broker_orders() if o["stat"] in ACTIVE]


def test_kill_switch_cancels_live_orders_at_the_broker(tmp_path: Path) -> None:
    with live_rig(tmp_path) as rig:
        ids = _two_open_orders(rig)
        code, answer = rig.api.call("POST", "/api/trades/kill-switch",
                                    {"confirm": "STOP TRADING"})
        assert code == 200, answer
        assert (answer["trading_mode"], answer["previous_mode"]) == ("research", "live")
        assert sorted(c["client_order_id"] for c in answer["cancelled"]) == sorted(ids)
        assert {c["mode"] for c in answer["cancelled"]} == {"live"}
        assert answer["failed"] == [] and answer["still_open"] == []
        assert answer["errors"] == []
        assert _open_at_broker(rig) == []
        assert [o["state"] for o in rig.journal()] == ["cancelled", "cancelled"]


def test_kill_switch_cli_fails_when_an_order_stays_open(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with live_rig(tmp_path) as rig:
        _two_open_orders(rig)
        rig.sandbox.sandbox.inject("errmsg", command="delTradeOrder", times=1,
                                   message="Order cannot be cancelled now", code=14)
        url = f"http://127.0.0.1:{rig.daemon.port}"
        assert main(["kill-switch", "--data-dir", str(rig.daemon.data_dir),
                     "--url", url]) == 1
        out = capsys.readouterr().out
        assert "Order cannot be cancelled now" in out
        still = _open_at_broker(rig)
        assert len(still) == 1, still  # the other one was cancelled
        assert str(still[0]["order_id"]) in out
