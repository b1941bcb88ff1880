"""The instrument a ``getUserCashFlows`` row belongs to (a dividend, a withholding tax).

The documented row (``id, type_code, date, sum, currency, comment``) has no instrument
field; the ticker, when there is one, is in the comment text. Explicit fields
(``ticker``, ``symbol``, ``instr_nm``, ``stock_symbol``, ``isin`` — also inside a
``params`` object) win when the broker sends them. From the comment only an unambiguous
reference is taken: exactly one distinct Tradernet ticker (``AAPL.US``, ``700.HK``) and/or
exactly one distinct ISIN with a valid check digit. Anything else is ``None``: never a
guess.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from arduino_trader.domain.universe import isin_check_digit

SYMBOL_FIELDS: tuple[str, ...] = ("ticker", "symbol", "instr_nm", "stock_symbol")
ISIN_FIELDS: tuple[str, ...] = ("isin", "issue_nb")

# A Tradernet ticker: base (letters/digits, may hold '-' or '_') + '.' + 2-4 letter venue.
_TICKER = re.compile(r"(?<![A-Za-z0-9._-])([A-Z0-9][A-Z0-9_-]{0,11}\.[A-Z]{2,4})(?![A-Za-z0-9_-])")
_ISIN = re.compile(r"(?<![A-Za-z0-9])([A-Z]{2}[A-Z0-9]{9}[0-9])(?![A-Za-z0-9])")
_ISIN_EXACT = re.compile(r"^[A-Z]{2}[A-Z0-9]{9}[0-9]$")


def valid_isin(text: str) -> bool:
    """True for a well-formed upper-case ISIN whose check digit is right (ISO 6166)."""
    return bool(_ISIN_EXACT.match(text)) and int(text[-1]) == isin_check_digit(text[:11])


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def _field(row: Mapping[str, Any], names: tuple[str, ...]) -> str:
    params = row.get("params")
    for source in (row, params if isinstance(params, Mapping) else {}):
        for name in names:
            value = _text(source.get(name))
            if value:
                return value
    return ""


def _only(found: list[str]) -> str | None:
    distinct = set(found)
    return distinct.pop() if len(distinct) == 1 else None


def from_comment(comment: str) -> tuple[str | None, str | None]:
    """(ticker, ISIN) named unambiguously in a free-text comment; ``None`` otherwise."""
    tickers = _TICKER.findall(comment)
    isins = [m for m in _ISIN.findall(comment) if valid_isin(m)]
    return _only(tickers), _only(isins)


def flow_instrument(row: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """(symbol, ISIN) of a cash-flow row: explicit fields first, then the comment."""
    symbol = _field(row, SYMBOL_FIELDS) or None
    isin_text = _field(row, ISIN_FIELDS).upper()
    isin = isin_text if valid_isin(isin_text) else None
    if symbol is None or isin is None:
        comment_symbol, comment_isin = from_comment(_text(row.get("comment")))
        symbol = symbol or comment_symbol
        isin = isin or comment_isin
    return symbol, isin
