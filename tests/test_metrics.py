"""GET /metrics: Prometheus text that a Prometheus parser accepts, with the daemon's state."""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from daemon_harness import Client, ProbeDaemon, start_daemon, wait_for
from prometheus_client.parser import text_string_to_metric_families


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[ProbeDaemon]:
    d = start_daemon(tmp_path / "state")
    yield d
    d.gate.set()
    d.stop()


def _scrape(daemon: ProbeDaemon) -> dict[str, list[tuple[dict[str, str], float]]]:
    with urllib.request.urlopen(f"http://127.0.0.1:{daemon.port}/metrics", timeout=10) as r:
        assert r.headers["Content-Type"].startswith("text/plain")
        text = r.read().decode()
    return {f.name: [(s.labels, s.value) for s in f.samples]
            for f in text_string_to_metric_families(text)}


def test_metrics_need_no_token_and_parse(daemon: ProbeDaemon) -> None:
    families = _scrape(daemon)
    assert families["arduino_trader_health_level"][0][1] in (0, 1)
    alive = {labels["actor"]: value for labels, value in families["arduino_trader_actor_alive"]}
    assert set(alive) == {spec.name for spec in daemon.actor_specs()}
    assert all(v == 1 for v in alive.values())
    (build,) = families["arduino_trader_build_info"]
    assert build[0]["trading_mode"] == "research"


def test_metrics_follow_jobs_and_rejections(daemon: ProbeDaemon) -> None:
    api = Client(daemon)
    api.call("POST", "/api/system/jobs/backup")
    wait_for(lambda: api.call("GET", "/api/system/jobs/backup")[1]["last_result"] == "ok",
             what="backup")
    api.call("POST", "/api/trades/execute", {"symbol": "DE0007164600", "side": "BUY",
                                              "quantity": 1, "confirm": "EXECUTE",
                                              "request_id": "metrics-1"})
    families = _scrape(daemon)
    runs = {labels["job"]: value for labels, value in families["arduino_trader_job_runs"]}
    assert runs["backup"] == 1
    durations = {labels["job"] for labels, _ in
                 families["arduino_trader_job_last_duration_seconds"]}
    assert "backup" in durations
    rejections = families["arduino_trader_order_rejections"]
    assert rejections == [({"layer": "security", "code": "security_unknown"}, 1.0)]


def test_metrics_show_value_and_cash_after_a_sync(daemon: ProbeDaemon) -> None:
    api = Client(daemon)
    runs = api.call("GET", "/api/system/jobs/sync_cycle")[1]["runs"]
    if api.call("GET", "/api/system/jobs/sync_cycle")[1]["status"] != "running":
        api.call("POST", "/api/system/jobs/sync_cycle")
    wait_for(lambda: api.call("GET", "/api/system/jobs/sync_cycle")[1]["runs"] > runs
             and api.call("GET", "/api/system/jobs/sync_cycle")[1]["status"] == "idle",
             30, "sync cycle")
    families = _scrape(daemon)
    cash = {labels["currency"]: value for labels, value in families["arduino_trader_cash"]}
    assert cash.get("EUR", 0) > 0
    (value,) = families["arduino_trader_portfolio_value_eur"]
    assert value[1] >= cash["EUR"]


def test_metrics_count_broker_calls_errors_and_latency(tmp_path: Path) -> None:
    from broker_support import running_sandbox

    from arduino_trader.adapters.sandbox.server import DEMO_PRIVATE_KEY, DEMO_PUBLIC_KEY

    with running_sandbox() as sandbox:
        env = {"ARDUINO_TRADER_BROKER__KIND": "tradernet",
               "ARDUINO_TRADER_BROKER__BASE_URL": sandbox.url,
               "ARDUINO_TRADER_TRADERNET_API_KEY": DEMO_PUBLIC_KEY,
               "ARDUINO_TRADER_TRADERNET_API_SECRET": DEMO_PRIVATE_KEY,
               "ARDUINO_TRADER_BROKER__READ_RETRIES": "0"}
        d = start_daemon(tmp_path / "state", env=env)
        try:
            api = Client(d)
            sandbox.sandbox.inject("errmsg", command="GetAllUserTexInfo")
            assert api.call("GET", "/api/system/tradernet")[1]["connected"] is False
            assert api.call("GET", "/api/system/tradernet")[1]["connected"] is True
            families = _scrape(d)
        finally:
            d.stop()
    calls = {labels["command"]: value for labels, value in
             families["arduino_trader_broker_requests"]}
    assert calls["GetAllUserTexInfo"] >= 2
    errors = families["arduino_trader_broker_errors"]
    assert any(labels["command"] == "GetAllUserTexInfo" and value >= 1
               for labels, value in errors)
    counts = [value for labels, value in families["arduino_trader_broker_latency_seconds"]
              if labels.get("command") == "GetAllUserTexInfo"]
    assert counts and max(counts) >= 2  # _count sample (and _sum) present
