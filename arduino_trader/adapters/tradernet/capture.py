"""``arduino-trader broker-capture``: make every read-only call the daemon relies on,
save each raw answer, and parse it with the real normalisers.

For the first contact with a real account (before live trading): each answer is written
to ``<out>/<command>.json`` and reported ``ok`` (parsed, with its row count and the keys
of its first row) or ``FAILED`` (the broker's error, or why the answer does not parse).
Nothing is sent that could change the account; the keys come from the settings.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from arduino_trader.adapters.broker_factory import build_tradernet
from arduino_trader.config.settings import SettingError, load_settings
from arduino_trader.protocols.broker_errors import BrokerError

from . import normalise as nz
from .client import TradernetClient, cash_flow_params

Parser = Callable[[dict[str, Any], dict[str, dict[str, Any]]], tuple[Any, ...]]
LOOKBACK = timedelta(days=30)


def _calls(now: datetime, symbol: str) -> list[tuple[str, dict[str, Any], Parser]]:
    start = now - LOOKBACK
    calls: list[tuple[str, dict[str, Any], Parser]] = [
        ("GetAllUserTexInfo", {}, lambda d, _: tuple(d)),
        ("getPositionJson", {}, lambda d, _: nz.parse_account(d).positions),
        ("getNotifyOrderJson", {"active_only": 0},
         lambda d, _: nz.parse_orders(d, "getNotifyOrderJson")),
        ("getOrdersHistory", {"from": nz.fmt_datetime(start), "till": nz.fmt_datetime(now)},
         lambda d, _: nz.parse_orders(d, "getOrdersHistory")),
        ("getTradesHistory", {"beginDate": nz.fmt_date(start.date()),
                              "endDate": nz.fmt_date(now.date()), "max": 0},
         lambda d, _: nz.parse_trades(d)),
        ("getUserCashFlows", cash_flow_params(100, 0), lambda d, _: nz.parse_cash_flows(d)),
        ("getClientCpsHistory", {"date_from": nz.fmt_datetime(start),
                                 "date_to": nz.fmt_datetime(now)},
         lambda d, _: nz.parse_cps(d)),
        ("getMarketStatus", {"market": "*"}, lambda d, _: nz.parse_market_status(d)),
        ("getCrossRatesForDate", {"base_currency": "EUR", "currencies": ["USD"]},
         lambda d, _: tuple(nz.parse_cross_rates(d).items())),
    ]
    if symbol:
        calls += [
            ("getStockQuotesJson", {"tickers": symbol}, lambda d, _: nz.parse_quotes(d)),
            ("getSecurityInfo", {"ticker": symbol, "sup": True},
             lambda d, seen: (_security(d, seen, symbol),)),
        ]
    return calls


def _security(data: dict[str, Any], seen: dict[str, dict[str, Any]], symbol: str) -> Any:
    """As the client reads it: the answer's lot, else the quote's ``x_lot``."""
    if nz.has_lot(data):
        return nz.parse_security_info(data, symbol)
    quote = seen.get("getStockQuotesJson", {})
    return nz.parse_security_info(data, symbol, lot=nz.parse_quote_lot(quote, symbol))


def _write(target: Path, data: Any) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def _first_keys(rows: tuple[Any, ...]) -> str:
    first = rows[0] if rows else None
    if first is None:
        return "no rows"
    names = getattr(first, "__dataclass_fields__", None)
    return ", ".join(names) if names else repr(first)[:80]


async def capture(client: TradernetClient, out: Path, now: datetime, symbol: str,
                  say: Callable[[str], None]) -> int:
    """Run every read-only call; write answers under ``out``; 0 when all parsed."""
    failures = 0
    seen: dict[str, dict[str, Any]] = {}
    for command, params, parse in _calls(now, symbol):
        target = out / f"{command}.json"
        read: Awaitable[dict[str, Any]] = client.read_raw(command, params)
        try:
            data = await read
        except BrokerError as exc:
            failures += 1
            _write(target, {"broker_error": exc.kind, "message": exc.message})
            say(f"FAILED {command}: {exc.kind}: {exc.message}")
            continue
        _write(target, data)
        seen[command] = data
        try:
            rows = parse(data, seen)
        except (BrokerError, ValueError) as exc:
            failures += 1
            say(f"FAILED {command}: does not parse: {exc}")
            continue
        say(f"ok     {command}: {len(rows)} rows; {_first_keys(rows)}")
    return 1 if failures else 0


def register(sub: Any) -> None:
    """Add the ``broker-capture`` subcommand to an argparse subparsers object."""
    parser: argparse.ArgumentParser = sub.add_parser(
        "broker-capture", help="make the read-only broker calls, save and check the answers")
    parser.add_argument("--config", type=Path, default=None,
                        help="TOML settings file (default: $ARDUINO_TRADER_CONFIG)")
    parser.add_argument("--out", type=Path, required=True, help="directory for the answers")
    parser.add_argument("--symbol", default="",
                        help="a held ticker for the quote and security calls (e.g. AAPL.US)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """The subcommand: settings → client → :func:`capture`."""
    try:
        settings = load_settings(args.config)
    except SettingError as exc:
        print(f"arduino-trader broker-capture: {exc}", file=sys.stderr)
        return 2
    client = build_tradernet(lambda: settings)

    async def main() -> int:
        try:
            return await capture(client, args.out, datetime.now(UTC), args.symbol.strip(),
                                 lambda line: print(line, flush=True))
        finally:
            await client.close()

    return asyncio.run(main())
