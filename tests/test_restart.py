"""Restarting the service from the API under the shipped systemd unit's hardening.

The unit forbids gaining privileges (``NoNewPrivileges=yes``, empty capability set), so
``sudo systemctl restart`` cannot work there; the route instead makes the process exit
with a code the unit restarts on. The unit file is parsed and systemd's documented
restart rules (systemd.service(5): ``Restart=``, ``SuccessExitStatus=``,
``RestartPreventExitStatus=``, ``RestartForceExitStatus=``) are applied to that code.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from daemon_harness import Client, ProbeDaemon, start_daemon

from arduino_trader.daemon.api import routes_settings
from arduino_trader.daemon.restart import RESTART_EXIT_CODE, no_new_privileges

UNIT = Path(__file__).parent.parent / "systemd" / "arduino-trader.service"
TOKEN = "restart-test-token-0123456789"


def _service_section(path: Path) -> dict[str, list[str]]:
    """``[Service]`` settings of a unit file; a key may appear several times."""
    section = ""
    found: dict[str, list[str]] = {}
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line
            continue
        if section == "[Service]":
            key, _, value = line.partition("=")
            found.setdefault(key.strip(), []).append(value.strip())
    return found


def _codes(service: dict[str, list[str]], key: str) -> set[int]:
    return {int(word) for value in service.get(key, []) for word in value.split()
            if word.isdigit()}


def systemd_restarts(service: dict[str, list[str]], exit_code: int) -> bool:
    """Would systemd restart the service after the main process exits with ``exit_code``?"""
    if exit_code in _codes(service, "RestartPreventExitStatus"):
        return False
    if exit_code in _codes(service, "RestartForceExitStatus"):
        return True
    clean = exit_code == 0 or exit_code in _codes(service, "SuccessExitStatus")
    policy = (service.get("Restart") or ["no"])[-1]
    return policy == "always" or (policy == "on-failure" and not clean)


def test_unit_restarts_on_the_restart_exit_code_but_not_on_a_clean_stop() -> None:
    service = _service_section(UNIT)
    assert service["NoNewPrivileges"] == ["yes"]  # why sudo cannot be used
    assert service["CapabilityBoundingSet"] == [""]
    assert systemd_restarts(service, RESTART_EXIT_CODE)
    assert not systemd_restarts(service, 0)  # SIGTERM (systemctl stop) stays stopped


def test_restart_rules_model_systemd() -> None:
    on_failure = {"Restart": ["on-failure"]}
    assert systemd_restarts(on_failure, 1) and not systemd_restarts(on_failure, 0)
    assert not systemd_restarts({"Restart": ["no"]}, RESTART_EXIT_CODE)
    assert systemd_restarts({"Restart": ["no"], "RestartForceExitStatus": ["75"]}, 75)
    assert not systemd_restarts({**on_failure, "SuccessExitStatus": ["75"]}, 75)
    assert not systemd_restarts({**on_failure, "RestartPreventExitStatus": ["75"]}, 75)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _post(url: str, token: str) -> tuple[int, dict[str, object]]:
    req = urllib.request.Request(url, data=b"", method="POST",
                                 headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def _spawn(tmp_path: Path, allow: bool) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    env = {**os.environ, "ARDUINO_TRADER_API__PORT": str(port),
           "ARDUINO_TRADER_API__TOKEN": TOKEN,
           "ARDUINO_TRADER_API__ALLOW_RESTART": "true" if allow else "false"}
    env.pop("ARDUINO_TRADER_CONFIG", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "arduino_trader", "run", "--data-dir", str(tmp_path / "state")],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        cwd=Path(__file__).parent.parent)
    base = f"http://127.0.0.1:{port}"
    end = time.monotonic() + 20
    while time.monotonic() < end:
        try:
            with urllib.request.urlopen(base + "/health", timeout=1):
                return proc, base
        except OSError:
            if proc.poll() is not None:
                break
            time.sleep(0.1)
    proc.kill()
    _, err = proc.communicate()
    raise AssertionError(f"daemon did not come up: {err.decode()[-2000:]}")


@pytest.fixture
def spawned(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[
        tuple[subprocess.Popen[bytes], str]]:
    proc, base = _spawn(tmp_path, allow=bool(request.param))
    try:
        yield proc, base
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.communicate(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.communicate()


@pytest.mark.parametrize("spawned", [True], indirect=True)
def test_restart_route_exits_with_the_code_the_unit_restarts_on(
        spawned: tuple[subprocess.Popen[bytes], str]) -> None:
    proc, base = spawned
    status, body = _post(base + "/api/settings/restart-service", TOKEN)
    assert status == 202, body
    assert body["status"] == "restarting" and body["exit_code"] == RESTART_EXIT_CODE
    _, err = proc.communicate(timeout=20)
    assert proc.returncode == RESTART_EXIT_CODE, err.decode()[-2000:]
    assert systemd_restarts(_service_section(UNIT), proc.returncode)


@pytest.mark.parametrize("spawned", [False], indirect=True)
def test_restart_route_refused_when_not_enabled(
        spawned: tuple[subprocess.Popen[bytes], str]) -> None:
    proc, base = spawned
    status, body = _post(base + "/api/settings/restart-service", TOKEN)
    assert status == 403 and body["error"] == "restart_disabled"
    assert proc.poll() is None  # still running
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=15)
    assert proc.returncode == 0


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[ProbeDaemon]:
    d = start_daemon(tmp_path / "state", env={"ARDUINO_TRADER_API__ALLOW_RESTART": "true"})
    try:
        yield d
    finally:
        d.stop()


def test_reboot_says_why_it_cannot_work_under_the_hardening(
        daemon: ProbeDaemon, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(routes_settings, "no_new_privileges", lambda: True)
    status, body = Client(daemon).call("POST", "/api/settings/restart")
    assert status == 409 and body["error"] == "reboot_unavailable"
    assert "restart-service" in body["message"]


def test_no_new_privileges_reads_the_kernel_flag(tmp_path: Path) -> None:
    status = tmp_path / "status"
    status.write_text("Name:\tpython\nNoNewPrivs:\t1\nSeccomp:\t2\n", encoding="ascii")
    assert no_new_privileges(status)
    status.write_text("Name:\tpython\nNoNewPrivs:\t0\n", encoding="ascii")
    assert not no_new_privileges(status)
    assert not no_new_privileges(tmp_path / "missing")
