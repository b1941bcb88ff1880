"""Server-sent event streams: the daemon's events, the plan and the planner's status.

Every stream takes one of the hub's bounded client slots (503 ``too_many_streams``
beyond it), sends a comment heartbeat when idle, gives up on a client that does not
read within the write timeout, and ends when the daemon shuts down. Only
``/api/events/stream`` resumes from ``Last-Event-ID``; the other two send their current
snapshot (the same JSON as their GET route) on connect and again after each change.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import structlog
from aiohttp import web

from .context import ctx_of
from .errors import ApiError, bad_request
from .event_hub import EventHub, HubFull, StreamEvent, Subscription
from .helpers import dumps
from .router import ApiRouter
from .routes_planner import planner_status, recommendations

router = ApiRouter("streams")
log = structlog.get_logger(component="api")

RETRY_MS = 3000
_SSE = "text/event-stream"
_ERRORS = {503: "no stream slot free (too_many_streams) or the daemon is stopping"}


@dataclass(frozen=True)
class StreamTiming:
    """How often an idle stream sends a heartbeat, and how long one write may take."""

    heartbeat_s: float = 15.0
    write_timeout_s: float = 10.0



def _hub(request: web.Request) -> EventHub:
    hub = ctx_of(request).events
    if hub is None:
        raise ApiError(503, "streams_unavailable", "event streams are not wired")
    if hub.closed.is_set():
        raise ApiError(503, "shutting_down", "the daemon is stopping")
    return hub


def _timing(request: web.Request) -> StreamTiming:
    return ctx_of(request).stream_timing or StreamTiming()


def _last_event_id(request: web.Request) -> int | None:
    raw = request.headers.get("Last-Event-ID")
    if raw is None or raw.strip() == "":
        return None
    if not raw.strip().isdigit():
        raise bad_request("Last-Event-ID must be a non-negative integer",
                          code="invalid_last_event_id")
    return int(raw.strip())


def frame(data: str, *, event: str | None = None, event_id: int | None = None) -> bytes:
    """One SSE message (multi-line data split into ``data:`` lines)."""
    lines = [] if event is None else [f"event: {event}"]
    if event_id is not None:
        lines.append(f"id: {event_id}")
    lines += [f"data: {line}" for line in data.split("\n")]
    return ("\n".join(lines) + "\n\n").encode()


class _Client:
    """One open stream: bounded writes, heartbeats, the hub slot freed at the end."""

    def __init__(self, request: web.Request, hub: EventHub, sub: Subscription) -> None:
        self.request, self.hub, self.sub = request, hub, sub
        self.timing = _timing(request)
        self.response = web.StreamResponse(headers={
            "Content-Type": _SSE, "Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    async def write(self, payload: bytes) -> bool:
        """False when the client is gone or too slow to take ``payload``."""
        try:
            await asyncio.wait_for(self.response.write(payload), self.timing.write_timeout_s)
        except (TimeoutError, ConnectionError, RuntimeError):
            return False
        return True

    async def next(self) -> StreamEvent | bool | None:
        """The next event, ``None`` to stop, ``True`` when a heartbeat is due."""
        try:
            return await asyncio.wait_for(self.sub.queue.get(), self.timing.heartbeat_s)
        except TimeoutError:
            return True

    async def run(self, on_event: Callable[[StreamEvent], Awaitable[bytes | None]],
                  first: list[bytes]) -> web.StreamResponse:
        try:
            await self.response.prepare(self.request)
            if not await self.write(f"retry: {RETRY_MS}\n\n".encode()):
                return self.response
            for opening in first:
                if not await self.write(opening):
                    return self.response
            while True:
                item = await self.next()
                if item is None:
                    break
                payload = (b": heartbeat\n\n" if isinstance(item, bool)
                           else await on_event(item))
                if payload is not None and not await self.write(payload):
                    break
        finally:
            self.hub.unsubscribe(self.sub)
        with contextlib.suppress(ConnectionError, RuntimeError):
            await self.response.write_eof()
        return self.response


def _open(request: web.Request, resume: bool) -> _Client:
    hub = _hub(request)
    last = _last_event_id(request) if resume else None
    try:
        sub = hub.subscribe(last)
    except HubFull as exc:
        raise ApiError(503, "too_many_streams", str(exc), max_clients=hub.max_clients) from None
    return _Client(request, hub, sub)


def _event_frame(item: StreamEvent) -> bytes:
    return frame(dumps(item.data), event=item.kind, event_id=item.id)


@router.route("GET", "/api/events/stream", summary="Server-sent events: plan ready, order "
              "filled / refused, health changed, job finished, deposit / dividend / "
              "withdrawal booked; "
              "resumes after Last-Event-ID", content_type=_SSE, response={"type": "string"},
              errors={400: "Last-Event-ID is not an integer", **_ERRORS})
async def events_stream(request: web.Request) -> web.StreamResponse:
    """Each event's ``event:`` is its kind and ``data:`` its JSON; ``reset`` first when
    events after ``Last-Event-ID`` were already forgotten (reload everything)."""
    client = _open(request, resume=True)
    sub = client.sub
    first = [frame(dumps({"last_id": client.hub.last_id}), event="reset")] if sub.reset else []
    first += [_event_frame(e) for e in sub.backlog]

    async def on_event(item: StreamEvent) -> bytes:
        return _event_frame(item)

    return await client.run(on_event, first)


View = Callable[[web.Request], Awaitable[web.StreamResponse]]


async def _snapshot(request: web.Request, view: View, event: str, event_id: int) -> bytes:
    """The GET route's answer as one event; once the stream is open a failure cannot become
    an HTTP error, so it is sent as ``event: snapshot_failed`` and the stream goes on."""
    try:
        response = await view(request)
    except Exception as exc:  # the stream stays open; the next change retries
        log.warning("stream_snapshot_failed", path=request.path, error=repr(exc))
        message = exc.message if isinstance(exc, ApiError) else type(exc).__name__
        return frame(dumps({"message": message}), event="snapshot_failed", event_id=event_id)
    text = response.text if isinstance(response, web.Response) else None
    body = json.loads(text) if text else {}
    return frame(dumps(body), event=event, event_id=event_id)


async def _snapshot_stream(request: web.Request, event: str, triggers: frozenset[str],
                           view: View) -> web.StreamResponse:
    client = _open(request, resume=False)
    first = [await _snapshot(request, view, event, client.hub.last_id)]

    async def on_event(item: StreamEvent) -> bytes | None:
        if item.kind not in triggers:
            return None
        return await _snapshot(request, view, event, item.id)

    return await client.run(on_event, first)


@router.route("GET", "/api/trades/recommendations/stream", summary="Server-sent events: "
              "the plan (as GET /api/trades/recommendations) now and after every plan",
              content_type=_SSE, response={"type": "string"}, errors=_ERRORS)
async def recommendations_stream(request: web.Request) -> web.StreamResponse:
    """``event: recommendations`` on connect and after each ``plan_ready``."""
    return await _snapshot_stream(request, "recommendations",
                                  frozenset({"plan_ready", "order_filled"}), recommendations)


@router.route("GET", "/api/planner/status/stream", summary="Server-sent events: the "
              "planner's status (as GET /api/planner/status) now and after every change",
              content_type=_SSE, response={"type": "string"}, errors=_ERRORS)
async def planner_status_stream(request: web.Request) -> web.StreamResponse:
    """``event: planner_status`` on connect and after each plan or job run."""
    return await _snapshot_stream(request, "planner_status",
                                  frozenset({"plan_ready", "job_finished"}), planner_status)
