"""/health shows the optimiser's fallback: a plan whose optimiser raised decides on
heuristics only, so health is degraded naming it until a plan's optimiser succeeds."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from daemon_harness import Client, wait_for
from reliability_support import running_demo

from arduino_trader.daemon.demo import DemoDaemon
from arduino_trader.domain import optimizer


def _broken(*args: Any, **kwargs: Any) -> Any:
    raise FloatingPointError("solver blew up")


@pytest.fixture
def demo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[DemoDaemon]:
    monkeypatch.setattr(optimizer, "_optimize", _broken)
    with running_demo(DemoDaemon, tmp_path / "state") as daemon:
        yield daemon


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
