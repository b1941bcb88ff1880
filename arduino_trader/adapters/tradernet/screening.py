"""The broker's public screen ``getTopSecurities``: request parameters and its answer.

Request ``{"type", "exchange", "gainers", "limit"}``: ``type`` one of stocks, bonds,
futures, funds, indexes; ``exchange`` one of kazakhstan, europe, usa, ukraine,
currencies; ``gainers`` 1 = fastest growing over a year, 0 = most traded; ``limit``
the number of tickers (the broker's default is 10). Answer ``{"tickers": [...]}``; a
refusal (e.g. ``{"code": 5, "error": "Exchange is missing"}``) is raised by the
envelope reader before this parser sees it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from arduino_trader.protocols.broker_errors import BrokerProtocolError

TOP_TYPES = ("stocks", "bonds", "futures", "funds", "indexes")
TOP_EXCHANGES = ("kazakhstan", "europe", "usa", "ukraine", "currencies")


def top_params(exchange: str, kind: str, gainers: bool, limit: int) -> dict[str, Any]:
    """The ``getTopSecurities`` parameters; a value the broker does not take is refused
    here (``ValueError``), before anything is sent."""
    if exchange not in TOP_EXCHANGES:
        raise ValueError(f"getTopSecurities: exchange {exchange!r} is not one of "
                         f"{', '.join(TOP_EXCHANGES)}")
    if kind not in TOP_TYPES:
        raise ValueError(f"getTopSecurities: type {kind!r} is not one of {', '.join(TOP_TYPES)}")
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise ValueError(f"getTopSecurities: limit {limit!r} is not a positive integer")
    return {"type": kind, "exchange": exchange, "gainers": 1 if gainers else 0, "limit": limit}


def parse_top_securities(data: Mapping[str, Any]) -> tuple[str, ...]:
    """``{"tickers": [...]}`` → the tickers in the broker's order, once each."""
    container = data.get("result", data)
    tickers = container.get("tickers") if isinstance(container, Mapping) else None
    if not isinstance(tickers, list):
        raise BrokerProtocolError("getTopSecurities: 'tickers' is not a list",
                                  command="getTopSecurities")
    out: list[str] = []
    for ticker in tickers:
        if not isinstance(ticker, str) or not ticker.strip():
            raise BrokerProtocolError(f"getTopSecurities: ticker {ticker!r} is not a "
                                      "non-empty string", command="getTopSecurities")
        if ticker.strip().upper() not in out:
            out.append(ticker.strip().upper())
    return tuple(out)
