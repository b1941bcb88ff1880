"""The guard in front of every route that can send orders: the owner's explicit
confirmation (``{"confirm": "EXECUTE"}``) and at most ``EXECUTE_LIMIT`` such requests a
minute per client address. One guard, so no route that trades can forget a part of it."""

from __future__ import annotations

import time
from collections import deque

from aiohttp import web

from .bodies_trading import ExecuteStepBody
from .body import decode, read_raw
from .errors import ApiError, bad_request

EXECUTE_LIMIT = 10  # requests per minute, per client address
_recent: dict[str, deque[float]] = {}


def limit_rate(request: web.Request) -> None:
    """10 order-sending requests per 60 s per client address (429 beyond)."""
    key = request.remote or "?"
    now = time.monotonic()
    window = _recent.setdefault(key, deque())
    while window and now - window[0] > 60:
        window.popleft()
    if len(window) >= EXECUTE_LIMIT:
        raise ApiError(429, "rate_limited", "at most 10 trade executions per minute")
    window.append(now)


async def confirmed(request: web.Request) -> None:
    """Refuse the request (400 ``confirmation_required``) unless its body is
    ``{"confirm": "EXECUTE"}``, then count it against the rate limit."""
    raw = await read_raw(request)
    if not raw.strip():
        raise bad_request('this request sends orders: its body must be '
                          '{"confirm": "EXECUTE"}', code="confirmation_required")
    decode(raw, ExecuteStepBody)
    limit_rate(request)


def clear_rate_limits() -> None:
    """Forget every client's recent requests (a test starting a fresh daemon)."""
    _recent.clear()
