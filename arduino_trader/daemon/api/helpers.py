"""Handler helpers: JSON out, numbers from the query string, and asking actors without
blocking the loop (bodies in: :mod:`.body`)."""

from __future__ import annotations

import asyncio
import json
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

from aiohttp import web

from arduino_trader.config.spec import number_problem
from arduino_trader.protocols.messages import GetHealth, HealthReport
from arduino_trader.protocols.money import InvalidAmount, parse_decimal
from arduino_trader.protocols.runtime import ActorUnavailable

from .context import ApiContext, ctx_of
from .errors import ApiError, bad_request


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def dumps(data: Any) -> str:
    """JSON text with decimals as strings and datetimes as ISO-8601."""
    return json.dumps(data, default=_default, separators=(",", ":"), allow_nan=False)


def json_response(data: Any, status: int = 200) -> web.Response:
    """A JSON response (decimals as strings, datetimes ISO-8601)."""
    return web.Response(text=dumps(data), status=status, content_type="application/json")


def query_decimal(raw: str, name: str, code: str = "invalid_query") -> Decimal:
    """The query parameter ``name`` (text ``raw``) as a finite ``Decimal`` within the size
    rule of every number read from outside (:func:`number_problem`, checked before
    anything expands it); otherwise a 400 ``code`` naming the parameter."""
    try:
        number = parse_decimal(raw, field=name)
    except InvalidAmount:
        raise bad_request(f"{name} must be a finite number", code=code, field=name) from None
    problem = number_problem(number)
    if problem is not None:
        raise bad_request(f"{name} {problem}", code=code, field=name)
    return number


async def ask_actor(request: web.Request, actor: str, message: object,
                    timeout: float = 10.0) -> Any:  # noqa: ASYNC109 - the ask's own timeout
    """Ask an actor from a handler: waits in a worker thread, never on the loop.

    503 ``actor_unavailable`` if the actor is not running; 504 ``actor_timeout`` if it does
    not answer in time.
    """
    ctx = ctx_of(request)
    loop = asyncio.get_running_loop()
    try:
        return await loop.run_in_executor(ctx.executor, ctx.bus.ask, actor, message, timeout)
    except ActorUnavailable as exc:
        raise ApiError(503, "actor_unavailable", str(exc)) from None
    except TimeoutError as exc:
        raise ApiError(504, "actor_timeout", str(exc)) from None


async def ask_health(ctx: ApiContext, timeout: float = 5.0) -> HealthReport | None:  # noqa: ASYNC109
    """The health monitor's report, asked on the health pool (never queued behind other
    actors' asks); None when it does not answer in time or at all."""
    loop = asyncio.get_running_loop()
    try:
        answer = await loop.run_in_executor(ctx.health_executor or ctx.executor, ctx.bus.ask,
                                            "health", GetHealth(), timeout)
    except (ActorUnavailable, TimeoutError):
        return None
    return answer if isinstance(answer, HealthReport) else None
