"""Per-bucket planner configuration: the API, its versions, and the plan that uses it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from daemon_harness import Client, ProbeDaemon, start_daemon, wait_for

from arduino_trader.actors.planner_bucket_config import configured_input
from arduino_trader.config.settings import defaults
from arduino_trader.domain.planner.models import PlanInput

URL = "/api/planning/config"


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[ProbeDaemon]:
    d = start_daemon(tmp_path / "state")
    yield d
    d.gate.set()
    d.stop()


def test_config_round_trip_is_validated_and_versioned(daemon: ProbeDaemon) -> None:
    api = Client(daemon)
    code, empty = api.call("GET", f"{URL}?bucket_id=core")
    assert code == 200 and (empty["settings"], empty["version"]) == ({}, 0)
    bad = {"max_plan_depth": 99, "min_cash_reserve": 10, "beam_width": "wide"}
    code, checked = api.call("POST", f"{URL}/validate", {"settings": bad})
    assert code == 200 and checked["valid"] is False
    assert sorted(e["key"] for e in checked["errors"]) == ["beam_width", "max_plan_depth",
                                                          "min_cash_reserve"]
    code, refused = api.call("PUT", URL, {"bucket_id": "core", "settings": bad})
    assert code == 400 and len(refused["errors"]) == 3
    assert api.call("GET", f"{URL}?bucket_id=core")[1]["version"] == 0  # nothing stored
    assert api.call("PUT", URL, {"bucket_id": "core", "settings": {"max_plan_depth": 2}},
                    token=None)[0] == 401
    assert api.call("PUT", URL, {"bucket_id": "nope", "settings": {}})[0] == 404
    code, first = api.call("PUT", URL, {"bucket_id": "core", "changed_by": "owner",
                                        "settings": {"max_plan_depth": 2}})
    assert code == 200 and (first["version"], first["settings"]) == (1, {"max_plan_depth": 2})
    _, second = api.call("PUT", URL, {"bucket_id": "core",
                                      "settings": {"beam_width": 4, "max_plan_depth": 3}})
    assert second["version"] == 2
    assert [(h["version"], h["changed_by"], h["settings"]) for h in second["history"]] == [
        (2, "api", {"beam_width": 4, "max_plan_depth": 3}),
        (1, "owner", {"max_plan_depth": 2})]
    code, dropped = api.call("DELETE", f"{URL}?bucket_id=core")
    assert code == 200 and (dropped["version"], dropped["settings"]) == (3, {})
    assert dropped["history"][0]["settings"] is None
    assert api.call("DELETE", f"{URL}?bucket_id=core")[0] == 404


def test_the_plan_records_the_config_it_used(daemon: ProbeDaemon) -> None:
    api = Client(daemon)
    api.call("PUT", URL, {"bucket_id": "core", "settings": {"max_plan_depth": 2}})
    assert api.call("POST", "/api/system/jobs/planner")[0] == 202
    wait_for(lambda: api.call("GET", "/api/system/jobs/planner")[1]["status"] == "idle",
             timeout=60, what="the plan")
    row = daemon.store.fetch_one(
        "SELECT inputs_json FROM plans ORDER BY id DESC LIMIT 1")
    assert row is not None
    assert json.loads(row["inputs_json"])["planner_configs"] == {"core": 1}


def test_a_bucket_config_replaces_the_global_planner_settings() -> None:
    import numpy as np

    settings = defaults()
    inp = PlanInput([], np.zeros((0, 0)), [], 0.0)
    notes: list[str] = []
    mine = configured_input(inp, "core", {"core": (1, {"max_plan_depth": 2,
                                                       "beam_width": 4})}, settings, notes)
    assert (mine.settings.max_plan_depth, mine.settings.beam_width) == (2, 4)
    assert configured_input(inp, "sat1", {"core": (1, {"max_plan_depth": 2})}, settings,
                            notes) is inp
    stale = configured_input(inp, "core", {"core": (7, {"max_plan_depth": 99})}, settings,
                             notes)
    assert stale is inp and notes == ["bucket core planner config v7 ignored: "
                                      "max_plan_depth: 99 is out of range 1..5"]
