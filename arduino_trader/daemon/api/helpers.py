"""Handler helpers: JSON in and out, and asking actors without blocking the loop."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Set as AbstractSet
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

from aiohttp import web

from arduino_trader.protocols.runtime import ActorUnavailable

from .context import ctx_of
from .errors import ApiError, bad_request
from .json_depth import MAX_DEPTH, nesting_depth

MAX_BODY_BYTES = 1_000_000


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


async def read_json(request: web.Request) -> dict[str, Any]:
    """The request body as a JSON object; 400 for anything else."""
    if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
        raise ApiError(413, "body_too_large", f"request body over {MAX_BODY_BYTES} bytes")
    raw = await request.read()
    if not raw:
        raise bad_request("request body must be a JSON object", code="invalid_json")
    try:
        text = raw.decode("utf-8")
        if nesting_depth(text) > MAX_DEPTH:
            raise ValueError(f"nested deeper than {MAX_DEPTH} levels")
        data = json.loads(text, parse_float=Decimal, parse_constant=_reject_constant)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise bad_request(f"malformed JSON: {exc}", code="invalid_json") from None
    if not isinstance(data, dict):
        raise bad_request("request body must be a JSON object", code="invalid_json")
    return data


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def only_fields(body: dict[str, Any], allowed: AbstractSet[str]) -> None:
    """400 naming any field not in ``allowed``."""
    extra = sorted(set(body) - allowed)
    if extra:
        raise bad_request(f"unknown field(s): {', '.join(extra)}", code="unknown_field")


async def read_body(request: web.Request, schema: dict[str, Any]) -> dict[str, Any]:
    """The JSON body checked against the route's declared ``schema`` (the one OpenAPI
    documents): 400 naming unknown fields (those outside ``properties``) or missing
    ``required`` ones."""
    body = await read_json(request)
    only_fields(body, set(schema.get("properties", {})))
    missing = [name for name in schema.get("required", []) if name not in body]
    if missing:
        raise bad_request(f"missing field(s): {', '.join(missing)}", code="missing_field",
                          field=missing[0])
    return body


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
