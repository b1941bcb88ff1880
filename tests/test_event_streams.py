"""Server-sent event streams through aiohttp on 127.0.0.1: heartbeats, resumption after
``Last-Event-ID``, the client bound (503), a client that never reads, shutdown; and the
whole daemon streaming a job's end and closing the stream when it stops."""

from __future__ import annotations

import asyncio
import json
import socket
import time
import urllib.request
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from daemon_harness import Client, start_daemon

from arduino_trader.config.settings import Settings, defaults
from arduino_trader.daemon.api.app import create_app
from arduino_trader.daemon.api.context import ApiContext
from arduino_trader.daemon.api.event_hub import EventHub
from arduino_trader.daemon.api.health_watch import watch_health
from arduino_trader.daemon.api.routes_streams import StreamTiming
from arduino_trader.protocols.messages import ComponentStatus, HealthReport
from arduino_trader.protocols.planning import PlanReady

PATH = "/api/events/stream"


class Served:
    def __init__(self, hub: EventHub, runner: web.AppRunner, port: int) -> None:
        self.hub, self.runner, self.base = hub, runner, f"http://127.0.0.1:{port}"


class _DefaultSettings:
    """The built-in settings, as the app's middlewares read them (``current()``)."""

    def current(self) -> Settings:
        return defaults()


async def _serve(hub: EventHub, timing: StreamTiming) -> Served:
    ctx = ApiContext(bus=None, store=None, clock=None,  # type: ignore[arg-type]
                     settings=_DefaultSettings(),  # type: ignore[arg-type]
                     scheduler=None, data_dir=Path("."), token="t",  # type: ignore[arg-type]
                     executor=None,  # type: ignore[arg-type]
                     events=hub, stream_timing=timing)
    runner = web.AppRunner(create_app(ctx), handle_signals=False, shutdown_timeout=5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return Served(hub, runner, runner.addresses[0][1])


@pytest.fixture
async def served() -> AsyncIterator[Served]:
    hub = EventHub(asyncio.get_running_loop(), max_clients=2, queue_size=4, replay=3)
    s = await _serve(hub, StreamTiming(heartbeat_s=0.1, write_timeout_s=0.5))
    yield s
    await s.runner.cleanup()


async def _messages(resp: aiohttp.ClientResponse, count: int,
                    timeout: float = 5.0) -> list[dict[str, Any]]:
    """The next ``count`` SSE blocks (comments as {"comment": ...})."""
    out: list[dict[str, Any]] = []
    block: dict[str, Any] = {}
    async with asyncio.timeout(timeout):
        while len(out) < count:
            raw = await resp.content.readline()
            assert raw, "stream ended early"
            line = raw.decode().rstrip("\n")
            if line == "":
                if block:
                    out.append(block)
                block = {}
            elif line.startswith(":"):
                block["comment"] = line[1:].strip()
            else:
                key, _, value = line.partition(": ")
                block[key] = value
    return out


async def test_idle_stream_sends_retry_then_heartbeats(served: Served) -> None:
    async with aiohttp.ClientSession() as http, http.get(served.base + PATH) as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("text/event-stream")
        got = await _messages(resp, 3)
    assert got[0] == {"retry": "3000"}
    assert got[1] == got[2] == {"comment": "heartbeat"}


async def test_events_arrive_and_resume_after_last_event_id(served: Served) -> None:
    for n in (1, 2, 3):
        served.hub.publish("job_finished", {"job": f"j{n}"})
    async with aiohttp.ClientSession() as http:
        async with http.get(served.base + PATH, headers={"Last-Event-ID": "1"}) as resp:
            got = await _messages(resp, 3)
            served.hub.publish("plan_ready", {"plan_id": 7})
            live = [m for m in await _messages(resp, 3) if "comment" not in m]
    assert [(m["id"], m["event"]) for m in got[1:]] == [("2", "job_finished"),
                                                       ("3", "job_finished")]
    assert json.loads(got[2]["data"]) == {"job": "j3"}
    assert (live[0]["id"], live[0]["event"], json.loads(live[0]["data"])) == (
        "4", "plan_ready", {"plan_id": 7})


async def test_resume_past_the_replay_window_says_reset(served: Served) -> None:
    for n in range(6):  # replay keeps 3: ids 4..6
        served.hub.publish("job_finished", {"n": n})
    async with aiohttp.ClientSession() as http, \
            http.get(served.base + PATH, headers={"Last-Event-ID": "1"}) as resp:
        got = await _messages(resp, 5)
    assert got[1]["event"] == "reset" and json.loads(got[1]["data"]) == {"last_id": 6}
    assert [m["id"] for m in got[2:]] == ["4", "5", "6"]


async def test_resume_from_an_earlier_run_says_reset() -> None:
    """A restarted daemon numbers from its start time: an id of the previous run is
    below every id it keeps, so the client is told to reload."""
    hub = EventHub(asyncio.get_running_loop(), first_id=1_700_000_000_000)
    hub.publish("job_finished", {"n": 1})
    old_run = hub.subscribe(last_event_id=1_600_000_000_123)
    assert old_run.reset and [e.id for e in old_run.backlog] == [1_700_000_000_000]
    current = hub.subscribe(last_event_id=1_700_000_000_000)
    assert not current.reset and current.backlog == []


async def test_a_failing_snapshot_is_an_event_and_the_stream_goes_on(served: Served) -> None:
    """The app here has no store: the plan cannot be read, which the stream says."""
    async with aiohttp.ClientSession() as http, \
            http.get(served.base + "/api/trades/recommendations/stream") as resp:
        assert resp.status == 200
        got = await _messages(resp, 3)
    assert got[1]["event"] == "snapshot_failed" and json.loads(got[1]["data"])["message"]
    assert got[2] == {"comment": "heartbeat"}
    await _wait(lambda: served.hub.clients == 0, "slot freed")


async def test_bad_last_event_id_is_a_400(served: Served) -> None:
    async with aiohttp.ClientSession() as http, \
            http.get(served.base + PATH, headers={"Last-Event-ID": "x1"}) as resp:
        body = await resp.json()
    assert resp.status == 400 and body["error"] == "invalid_last_event_id"
    assert served.hub.clients == 0


async def _wait(cond: Any, what: str, timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not cond():
            await asyncio.sleep(0.02)


async def test_clients_beyond_the_bound_get_503(served: Served) -> None:
    async with aiohttp.ClientSession() as http:
        first = await http.get(served.base + PATH)
        second = await http.get(served.base + PATH)
        assert first.status == second.status == 200
        async with http.get(served.base + PATH) as third:
            body = await third.json()
        assert third.status == 503 and body["error"] == "too_many_streams"
        first.close()  # the server notices at its next heartbeat and frees the slot
        await _wait(lambda: served.hub.clients == 1, "slot freed")
        async with http.get(served.base + PATH) as again:
            assert again.status == 200
        second.close()


async def test_a_client_that_never_reads_is_cut_off(served: Served) -> None:
    port = int(served.base.rsplit(":", 1)[1])
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    loop = asyncio.get_running_loop()
    await loop.sock_connect(sock, ("127.0.0.1", port))
    await loop.sock_sendall(sock, f"GET {PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
    await _wait(lambda: served.hub.clients == 1, "client connected")
    big = {"blob": "x" * 65536}
    for _ in range(200):  # ~13 MB the client never reads
        served.hub.publish("job_finished", big)
        await asyncio.sleep(0)
        if served.hub.clients == 0:
            break
    await _wait(lambda: served.hub.clients == 0, "slow client dropped")
    sock.close()


async def test_shutdown_ends_open_streams_promptly() -> None:
    hub = EventHub(asyncio.get_running_loop())
    s = await _serve(hub, StreamTiming(heartbeat_s=30, write_timeout_s=5))
    async with aiohttp.ClientSession() as http:
        resp = await http.get(s.base + PATH)
        await _messages(resp, 1)
        started = time.monotonic()
        await s.runner.cleanup()
        assert time.monotonic() - started < 2
        assert await asyncio.wait_for(resp.content.read(), 2) == b""
        resp.close()
    assert hub.clients == 0


async def test_streams_are_in_the_openapi_document(served: Served) -> None:
    async with aiohttp.ClientSession() as http, \
            http.get(served.base + "/api/openapi.json") as resp:
        doc = await resp.json()
    for path in (PATH, "/api/trades/recommendations/stream", "/api/planner/status/stream"):
        assert "text/event-stream" in doc["paths"][path]["get"]["responses"]["200"]["content"]


def test_the_daemon_streams_a_finished_job_and_closes_on_stop(tmp_path: Path) -> None:
    daemon = start_daemon(tmp_path / "state")
    try:
        stream = urllib.request.urlopen(f"http://127.0.0.1:{daemon.port}{PATH}", timeout=20)
        assert stream.readline() == b"retry: 3000\n"
        code, run = Client(daemon).call("POST", "/api/system/jobs/probe_job")
        assert code == 202
        daemon.gate.set()
        lines = [stream.readline() for _ in range(4)]
        assert lines[1] == b"event: job_finished\n", lines
        data = json.loads(lines[3].decode()[len("data: "):])
        assert (data["job"], data["run_id"], data["ok"]) == ("probe_job", run["run_id"], True)
        started = time.monotonic()
        daemon.stop()
        assert time.monotonic() - started < 8
        assert stream.read() == b"\n"  # the last block's end, then end of stream
    finally:
        daemon.gate.set()
        daemon.stop()


def _read_block(stream: Any) -> dict[str, str]:
    block: dict[str, str] = {}
    while True:
        line = stream.readline().decode().rstrip("\n")
        if line == "":
            if block:
                return block
            continue
        if not line.startswith(":"):
            key, _, value = line.partition(": ")
            block[key] = value


def test_recommendations_stream_sends_the_plan_now_and_after_each_plan(tmp_path: Path) -> None:
    daemon = start_daemon(tmp_path / "state")
    try:
        api = Client(daemon)
        stream = urllib.request.urlopen(
            f"{api.base}/api/trades/recommendations/stream", timeout=20)
        assert _read_block(stream) == {"retry": "3000"}
        first = _read_block(stream)
        code, plan = api.call("GET", "/api/trades/recommendations")
        assert code == 200 and first["event"] == "recommendations"
        assert json.loads(first["data"]) == plan
        daemon.bus.publish(PlanReady("0" * 16, "nothing_to_do", "test", (), 1,
                                     daemon.clock.now()))
        again = _read_block(stream)
        assert again["event"] == "recommendations" and int(again["id"]) >= 1
        assert json.loads(again["data"]) == api.call("GET", "/api/trades/recommendations")[1]
        status = urllib.request.urlopen(f"{api.base}/api/planner/status/stream", timeout=20)
        assert _read_block(status) == {"retry": "3000"}
        snapshot = _read_block(status)
        assert snapshot["event"] == "planner_status"
        assert set(json.loads(snapshot["data"])) >= {"is_planning", "last_plan", "pending"}
        stream.close()
        status.close()
    finally:
        daemon.gate.set()
        daemon.stop()


async def test_health_watch_publishes_changes_only() -> None:
    hub = EventHub(asyncio.get_running_loop())
    now = datetime(2026, 1, 5, tzinfo=UTC)
    answers: list[HealthReport | None] = [
        HealthReport("ok", (), {}, {}, {}, {}, True, now),
        HealthReport("ok", (), {}, {}, {}, {}, True, now),
        HealthReport("degraded", ("broker: slow",), {}, {}, {}, {}, True, now),
        None]

    async def ask() -> HealthReport | None:
        if not answers:
            hub.close()
            return None
        return answers.pop(0)

    await asyncio.wait_for(watch_health(hub, ask, period_s=0.01), 5)
    sub = hub.subscribe(0)
    assert [(e.kind, e.data) for e in sub.backlog] == [
        ("health_changed", {"level": "degraded", "reasons": ["broker: slow"],
                            "previous_level": "ok"}),
        ("health_changed", {"level": "failing", "reasons": ["health monitor is not answering"],
                            "previous_level": "degraded"})]


def test_the_daemon_streams_a_health_change(tmp_path: Path) -> None:
    daemon = start_daemon(tmp_path / "state")
    try:
        stream = urllib.request.urlopen(f"http://127.0.0.1:{daemon.port}{PATH}", timeout=30)
        assert _read_block(stream) == {"retry": "3000"}
        daemon.bus.tell("health", ComponentStatus("stream_test", "failing", "test outage",
                                                  daemon.clock.now()))
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # the start-up jobs' events come first
            block = _read_block(stream)
            if block.get("event") == "health_changed" and "test outage" in block["data"]:
                break
        data = json.loads(block["data"])
        assert block["event"] == "health_changed"
        assert any("test outage" in r for r in data["reasons"]), data
        assert data["level"] in ("degraded", "failing") and data["previous_level"]
        stream.close()
    finally:
        daemon.gate.set()
        daemon.stop()
