"""Request bodies of the security routes: one declaration, documented and enforced."""

from __future__ import annotations

from typing import Any

_STR: dict[str, Any] = {"type": "string"}
_FLAGS: dict[str, Any] = {"min_lot": {"type": "integer", "minimum": 1},
                          "allow_buy": {"type": "boolean"}, "allow_sell": {"type": "boolean"}}
CREATE_BODY: dict[str, Any] = {
    "type": "object", "required": ["isin", "symbol", "name"],
    "properties": {"isin": _STR, "symbol": _STR, "name": _STR, "currency": _STR,
                   "yahoo_symbol": _STR, **_FLAGS}}
ADD_BODY: dict[str, Any] = {
    "type": "object", "required": ["identifier"],
    "properties": {"identifier": _STR, "yahoo_symbol": _STR, **_FLAGS}}
CREATE_FIELDS = frozenset(CREATE_BODY["properties"])
ADD_FIELDS = frozenset(ADD_BODY["properties"])
