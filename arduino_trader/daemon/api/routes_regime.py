"""``GET /api/planner/regime``: the market regime the planner uses — today's smoothed
score, its label under the configured cuts, the raw score and its components, and the
recent days it was smoothed over."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from arduino_trader.adapters.store import regime_repo
from arduino_trader.domain import regime as rg

from .context import ctx_of
from .helpers import json_response
from .router import ApiRouter

router = ApiRouter("planner")

HISTORY_DAYS = 30
_NUMBER = {"type": "number"}
REGIME_SCHEMA: dict[str, Any] = {
    "type": "object", "required": ["status", "thresholds", "smoothing", "history"],
    "properties": {
        "status": {"enum": ["ok", "none"]},
        "score": {"type": ["number", "null"]}, "raw": {"type": ["number", "null"]},
        "label": {"enum": ["bull", "sideways", "bear", None]},
        "components": {"type": ["object", "null"], "properties": {
            "return": _NUMBER, "volatility": _NUMBER, "drawdown": _NUMBER}},
        "thresholds": {"type": "object", "required": ["bull", "bear"]},
        "history": {"type": "array", "items": {"type": "object"}},
    },
}


@router.route("GET", "/api/planner/regime", summary="The market regime: smoothed score, "
              "label, raw score and its components, the last 30 days",
              response=REGIME_SCHEMA)
async def regime(request: web.Request) -> web.Response:
    """The latest stored day's regime; ``status: none`` before the first plan computed one.

    The label is the score's under the cuts configured now
    (``market_regime_bull_threshold`` / ``market_regime_bear_threshold``)."""
    settings = ctx_of(request).settings.current()
    cuts = rg.RegimeCuts(settings.typed.market_regime_bull_threshold,
                         settings.typed.market_regime_bear_threshold)
    history = await asyncio.to_thread(regime_repo.recent_regimes, ctx_of(request).store,
                                      HISTORY_DAYS)
    for day in history:
        day["label"] = rg.label_for(float(day["score"]), cuts)
    common = {"thresholds": {"bull": cuts.bull, "bear": cuts.bear},
              "smoothing": rg.SMOOTHING, "history": history}
    if not history:
        return json_response({"status": "none", "score": None, "raw": None, "label": None,
                              "components": None, **common})
    latest = history[0]
    return json_response({"status": "ok", **{k: latest[k] for k in (
        "day", "score", "raw", "label", "components", "bear_override", "indices",
        "computed_at")}, **common})
