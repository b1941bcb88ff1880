"""Stable unique keys for broker cash-flow records (a re-read record gets the same key).

A key is built only from fields the broker never changes: the source, the broker's own
id (plus the part of a record it stands for, e.g. its fee) or, when the broker sent no
id, the record's immutable content and its ordinal among identical records. A key never
contains the status, so a withdrawal moving pending → completed keeps its key and its
single row. Sources are namespaced, so a request id and a cash-flow id with the same
number never collide, and a request's two possible fees have distinct keys.
"""

from __future__ import annotations

import hashlib
import re
from datetime import date
from decimal import Decimal

from arduino_trader.protocols.cash_flow_store import Source

_PREFIX: dict[Source, str] = {
    "cps": "cps",
    "corporate_action": "corp",
    "user_cash_flow": "ucf",
}


class InvalidKey(ValueError):
    """A key cannot be built (empty or malformed id)."""


_INTEGRAL = re.compile(r"^[+]?0*(\d+)(?:\.0*)?$")


def _clean_id(broker_id: object) -> str:
    """The id as the key spells it: a whole number always the same way, whether the
    broker sent ``77``, ``"77"``, ``77.0`` or ``"077.00"``; other ids as sent."""
    text = "" if broker_id is None or isinstance(broker_id, bool) else str(broker_id).strip()
    whole = _INTEGRAL.match(text)
    if whole:
        text = whole.group(1).lstrip("0") or "0"
    if not text or text.lower() in {"none", "null", "0", "nan"}:
        raise InvalidKey(f"no usable broker id: {broker_id!r}")
    if ":" in text or any(ch.isspace() for ch in text):
        raise InvalidKey(f"broker id {broker_id!r} contains a separator or whitespace")
    return text


def legacy_float_key(key: str) -> str | None:
    """The key an earlier version stored for the same record when the broker sent its
    whole-number id as a float (``ucf:77`` → ``ucf:77.0``); None for other keys."""
    parts = key.split(":")
    if len(parts) < 2 or parts[1] == "nokey" or not parts[1].isdigit():
        return None
    parts[1] += ".0"
    return ":".join(parts)


def broker_key(source: Source, broker_id: object, suffix: str = "") -> str:
    """Key of a record the broker identifies: ``cps:123``, ``cps:123:withdrawal_fee``,
    ``corp:77:dividend``, ``trade_fee:9001``, ``ucf:55``.

    ``suffix`` names a sub-record (a fee split out of a request) or, for corporate
    actions, the action type. Raises :class:`InvalidKey` for a missing id.
    """
    key = f"{_PREFIX[source]}:{_clean_id(broker_id)}"
    return f"{key}:{suffix}" if suffix else key


def content_key(source: Source, kind: str, on: date, amount: Decimal, currency: str,
                instrument: str, ordinal: int) -> str:
    """Fallback key for a record without a broker id.

    Built from (source, type, date, amount, currency, instrument) and the record's
    ordinal among identical records of the same answer (0 for the first), so two equal
    payments on one day stay two rows and a re-sync maps each to the same key again.
    """
    if ordinal < 0:
        raise InvalidKey("ordinal must be >= 0")
    body = "|".join([source, kind, on.isoformat(), format(amount.normalize(), "f"),
                     currency, instrument])
    digest = hashlib.sha256(body.encode("utf-8")).hexdigest()[:20]
    return f"{_PREFIX[source]}:nokey:{digest}:{ordinal}"


def is_fallback(key: str) -> bool:
    """True for keys built by :func:`content_key`."""
    return ":nokey:" in key
