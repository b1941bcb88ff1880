"""``GET /metrics``: Prometheus text exposition of the daemon's state at scrape time.

Values are read when scraped (health report, job registry, order journal), so nothing
has to be counted in the hot paths and a restart never loses a total stored in SQLite.
The families and their rendering are in ``metrics_exposition`` (prometheus_client),
loaded on the first scrape.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from arduino_trader.adapters.store.api_queries import portfolio, system

from .context import ctx_of, reads_of
from .helpers import ask_health
from .router import ApiRouter

router = ApiRouter("metrics")

LEVELS = {"ok": 0, "degraded": 1, "failing": 2}
CONTENT_TYPE = "text/plain; version=0.0.4"


async def _snapshot(request: web.Request) -> dict[str, Any]:
    ctx = ctx_of(request)
    settings = ctx.settings.current()
    report = await ask_health(ctx)
    db = reads_of(request)
    snapshot = await portfolio.latest_snapshot(db)
    broker = ctx.broker
    stats = getattr(broker, "stats", None)
    return {
        "trading_mode": settings.typed.trading_mode,
        "broker": settings.typed.broker.kind,
        "level": LEVELS[report.level] if report else 2,
        "actors": report.actors if report else {},
        "components": report.components if report else {},
        "jobs": ctx.scheduler.states(),
        "orders": await system.order_counts(db),
        "rejections": await system.rejection_counts(db),
        "trades": await system.trade_counts(db),
        "snapshot": None if snapshot is None else (snapshot["total_value"],
                                                   snapshot["invested_value"]),
        "cash": await portfolio.cash_balances(db),
        "planner": await system.planner_facts(db),
        "broker_stats": stats.snapshot() if stats is not None else {},
    }


@router.route("GET", "/metrics", summary="Prometheus metrics (text exposition format)",
              auth=False, content_type=CONTENT_TYPE, response={"type": "string"})
async def metrics(request: web.Request) -> web.Response:
    """Health, actors, components, jobs, orders, rejections, trades, value, cash, broker
    calls (count, errors, latency) and planner duration."""
    from .metrics_exposition import exposition  # on the first scrape only (~4 MB)

    return web.Response(body=exposition(await _snapshot(request)),
                        headers={"Content-Type": CONTENT_TYPE})
