"""Concentration alerts in force and their acknowledgement, prefix ``/api/allocation/alerts``.

The ``concentration_check`` job records the alerts (country, sector, position as shares
of the whole portfolio); acknowledging one keeps it listed but out of the job's summary
until its level changes.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from arduino_trader.adapters.store import concentration_repo

from .context import ctx_of
from .errors import not_found
from .helpers import json_response
from .router import ApiRouter

router = ApiRouter("allocation")
TYPES = ("country", "sector", "position")
ALERT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["type", "name", "level", "severity", "needs_action", "acknowledged"],
    "properties": {"type": {"enum": list(TYPES)}, "name": {"type": "string"},
                   "level": {"type": "integer", "minimum": 1, "maximum": 3},
                   "severity": {"enum": ["warning", "critical"]},
                   "needs_action": {"type": "boolean",
                                    "description": "at or over the hard limit"},
                   "current_pct": {"type": "string"}, "limit_pct": {"type": "string"},
                   "acknowledged": {"type": "boolean"}},
}


@router.route("GET", "/api/allocation/alerts", summary="Concentration alerts in force, most "
              "serious first, with their acknowledgement",
              response={"type": "object", "required": ["alerts"],
                        "properties": {"alerts": {"type": "array", "items": ALERT_SCHEMA}}})
async def list_alerts(request: web.Request) -> web.Response:
    """As recorded by the last ``concentration_check`` run."""
    return json_response({"alerts": await asyncio.to_thread(concentration_repo.list_alerts,
                                                            ctx_of(request).store)})


@router.route("POST", "/api/allocation/alerts/{type}/{name}/acknowledge",
              summary="Acknowledge a concentration alert (until its level changes)",
              response=ALERT_SCHEMA, errors={404: "no such alert in force"})
async def acknowledge(request: web.Request) -> web.Response:
    """Idempotent; a later change of level raises the alert again."""
    kind, name = request.match_info["type"], request.match_info["name"]
    ctx = ctx_of(request)
    row = None
    if kind in TYPES:
        row = await asyncio.to_thread(concentration_repo.acknowledge, ctx.store, kind, name,
                                      ctx.clock.now())
    if row is None:
        raise not_found(f"no {kind} concentration alert {name!r} in force",
                        code="unknown_alert")
    return json_response(row)
