"""Request signing of the Tradernet API v3.

The body is the parameters as compact JSON in construction order (ASCII-escaped, as the
official SDK's ``json.dumps`` produces); the signature is the lowercase hex
HMAC-SHA256 of ``body + timestamp`` keyed by the private key.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

PUBLIC_KEY_HEADER = "X-NtApi-PublicKey"
TIMESTAMP_HEADER = "X-NtApi-Timestamp"
SIGNATURE_HEADER = "X-NtApi-Sig"


def _plain(value: Any) -> Any:
    """Decimals become JSON numbers (only when a float carries them exactly)."""
    if isinstance(value, Decimal):
        as_float = float(value)
        if Decimal(repr(as_float)) != value:
            raise ValueError(f"{value} cannot be sent exactly as a JSON number")
        return as_float
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def encode_body(params: Mapping[str, Any] | None) -> str:
    """The exact body text: compact JSON, keys in construction order; no params → ``{}``."""
    return json.dumps(_plain(dict(params or {})), separators=(",", ":"))


def sign(private_key: str, body: str, timestamp: str) -> str:
    """Lowercase hex HMAC-SHA256 of ``body + timestamp``."""
    return hmac.new(private_key.encode(), (body + timestamp).encode(),
                    hashlib.sha256).hexdigest()


def signed_headers(public_key: str, private_key: str, body: str,
                   timestamp: str) -> dict[str, str]:
    """The four headers of a signed request, in the SDK's order."""
    return {
        "Content-Type": "application/json",
        PUBLIC_KEY_HEADER: public_key,
        TIMESTAMP_HEADER: timestamp,
        SIGNATURE_HEADER: sign(private_key, body, timestamp),
    }


def signature_matches(private_key: str, body: str, timestamp: str, given: str) -> bool:
    """Constant-time check of a received signature."""
    return hmac.compare_digest(sign(private_key, body, timestamp).encode(), given.encode())
