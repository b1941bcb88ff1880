"""Whole daemon: a job that raises is answered as failed, then its actor is restarted
clean by the supervisor, and the fresh actor runs the next job on clean memory."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from daemon_harness import Client, ProbeDaemon, start_daemon, wait_for


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[ProbeDaemon]:
    d = start_daemon(tmp_path / "state")
    d.gate.set()
    yield d
    d.stop()


def _job(api: Client) -> dict[str, Any]:
    code, job = api.call("GET", "/api/system/jobs/probe_job")
    assert code == 200
    return dict(job)


def _probe(api: Client) -> dict[str, Any]:
    code, status = api.call("GET", "/api/system/status")
    assert code == 200
    return dict(status["actors"]["probe"])


def _run(api: Client, runs: int) -> dict[str, Any]:
    """Trigger the probe job through the API; its state once run number ``runs`` ended."""
    code, _ = api.call("POST", "/api/system/jobs/probe_job")
    assert code == 202
    wait_for(lambda: _job(api)["status"] == "idle" and _job(api)["runs"] == runs,
             what=f"run {runs} to finish")
    return _job(api)


def test_a_failed_job_restarts_its_actor_clean(daemon: ProbeDaemon) -> None:
    api = Client(daemon)
    first = daemon.bus.ref("probe")
    daemon.fail.set()
    job = _run(api, 1)
    assert job["last_result"] == "failed" and "failed on purpose" in job["last_summary"]
    wait_for(lambda: _probe(api).get("restarts", 0) == 1 and _probe(api)["alive"],
             what="the probe actor restarted")
    assert not first.is_alive() and daemon.bus.ref("probe") is not first
    _, status = api.call("GET", "/api/system/status")
    assert any("probe restarted" in r for r in status["reasons"])

    daemon.fail.clear()
    job = _run(api, 2)
    assert (job["last_result"], job["last_summary"]) == ("ok", "probe ran")
    assert _probe(api)["restarts"] == 1  # a successful job restarts nothing
