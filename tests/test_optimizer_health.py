"""/health shows the optimiser's fallback: a plan whose optimiser raised decides on
heuristics only, so health is degraded naming it until a plan's optimiser succeeds."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from daemon_harness import Client, wait_for
from reliability_support import ShiftedClock

from arduino_trader.config.settings import load_settings
from arduino_trader.daemon.demo import DemoDaemon, demo_settings
from arduino_trader.daemon.service import DaemonOptions
from arduino_trader.domain import optimizer

TUESDAY = datetime(2026, 1, 6, 16, 0, tzinfo=UTC)


def _broken(*args: Any, **kwargs: Any) -> Any:
    raise FloatingPointError("solver blew up")


@pytest.fixture
def demo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[DemoDaemon]:
    monkeypatch.setattr(optimizer, "_optimize", _broken)
    settings = demo_settings(load_settings(None, environ={}))
    daemon = DemoDaemon(DaemonOptions(settings=settings, data_dir=tmp_path / "state",
                                      clock=ShiftedClock(TUESDAY), configure_logs=False,
                                      port_override=0, supervisor_backoff_s=0.2))
    daemon.start()
    try:
        yield daemon
    finally:
        daemon.stop()


def _optimizer_reasons(api: Client) -> list[str]:
    reasons: list[str] = api.call("GET", "/health")[1]["reasons"]
    return [r for r in reasons if r.startswith("optimizer:")]


def test_health_is_degraded_while_the_optimiser_falls_back(
        demo: DemoDaemon, monkeypatch: pytest.MonkeyPatch) -> None:
    api = Client(demo)
    wait_for(lambda: bool(_optimizer_reasons(api)), 90, "the optimiser in /health")
    health = api.call("GET", "/health")[1]
    assert health["status"] == "degraded", health
    assert "FloatingPointError: solver blew up" in _optimizer_reasons(api)[0]
    status = api.call("GET", "/api/system/status")[1]
    assert status["components"]["optimizer"]["level"] == "degraded"

    monkeypatch.undo()  # the optimiser works again: the next plan clears it
    assert api.call("POST", "/api/system/jobs/planner")[0] == 202
    wait_for(lambda: not _optimizer_reasons(api), 120, "the optimiser back to ok")
    assert api.call("GET", "/api/system/status")[1]["components"]["optimizer"]["level"] == "ok"
