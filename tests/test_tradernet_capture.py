"""``broker-capture`` against the sandbox: every read-only call answered, saved and
parsed by the real normalisers; nothing that could change the account is sent."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from arduino_trader.adapters.sandbox.server import Fault
from arduino_trader.adapters.tradernet.capture import capture
from arduino_trader.daemon.cli import build_parser
from tests.broker_support import make_client, running_sandbox


async def test_capture_saves_and_parses_every_read_only_answer(tmp_path: Path) -> None:
    lines: list[str] = []
    with running_sandbox(tmp_path / "s.json") as thread:
        client = make_client(thread.url)
        try:
            code = await capture(client, tmp_path / "out", datetime.now(UTC), "AAPL.US",
                                 lines.append)
        finally:
            await client.close()
        sent = list(thread.sandbox.requests)
    assert code == 0, lines
    assert len(lines) == 11 and all(line.startswith("ok") for line in lines), lines
    saved = {p.stem for p in (tmp_path / "out").glob("*.json")}
    assert {"getTradesHistory", "getOrdersHistory", "getUserCashFlows",
            "getSecurityInfo", "getPositionJson"} <= saved
    assert json.loads((tmp_path / "out" / "getSecurityInfo.json").read_text())[
        "nt_ticker"] == "AAPL.US"
    assert not {"putTradeOrder", "delTradeOrder", "submitCps"} & set(sent)


async def test_capture_reports_an_answer_that_does_not_parse(tmp_path: Path) -> None:
    lines: list[str] = []
    with running_sandbox(tmp_path / "s.json") as thread:
        client = make_client(thread.url, read_retries=0)
        thread.sandbox.faults.append(
            Fault("errmsg", command="getMarketStatus", message="Bad json", code=2))
        try:
            code = await capture(client, tmp_path / "out", datetime.now(UTC), "",
                                 lines.append)
        finally:
            await client.close()
    assert code == 1
    assert [line for line in lines if line.startswith("FAILED")] == [
        "FAILED getMarketStatus: broker_rejected: getMarketStatus: Bad json (code 2)"]


async def test_read_raw_refuses_commands_that_change_the_account(tmp_path: Path) -> None:
    client = make_client("http://127.0.0.1:9")
    for command in ("putTradeOrder", "delTradeOrder", "submitCps"):
        with pytest.raises(ValueError, match="not a read-only command"):
            await client.read_raw(command, {})
    await client.close()


def test_the_cli_has_the_subcommand() -> None:
    args = build_parser().parse_args(["broker-capture", "--out", "x", "--symbol", "SAP.EU"])
    assert (args.out, args.symbol) == (Path("x"), "SAP.EU")
