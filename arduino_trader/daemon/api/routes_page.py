"""``GET /``: the owner's dashboard, one self-contained HTML file (no build step, no
external assets) that reads the JSON API and follows ``/api/events/stream`` to refresh."""

from __future__ import annotations

from functools import cache
from importlib import resources

from aiohttp import web

from .router import ApiRouter

router = ApiRouter("page")


@cache
def _page() -> bytes:
    return (resources.files("arduino_trader.daemon.api") / "static" / "dashboard.html").read_bytes()


@router.route("GET", "/", summary="The dashboard (HTML): value, health, plan, positions, "
              "scores, regime, buckets, orders, jobs, owner actions",
              auth=False, content_type="text/html", response={"type": "string"})
async def status_page(request: web.Request) -> web.Response:
    """The page; its data comes from the read-only JSON routes."""
    return web.Response(body=_page(), content_type="text/html", charset="utf-8",
                        headers={"Cache-Control": "no-cache",
                                 "Content-Security-Policy": "default-src 'self'; "
                                 "img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
                                 "script-src 'self' 'unsafe-inline'"})
