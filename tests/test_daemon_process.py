"""The real process: start from the CLI, notify/watchdog, JSON logs, SIGTERM within 10 s."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

SECRET = "proc-secret-8a7b6c5d"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _datagrams(sock: socket.socket, until: float) -> list[str]:
    got: list[str] = []
    sock.settimeout(0.1)
    while time.monotonic() < until:
        try:
            got.append(sock.recv(4096).decode())
        except TimeoutError:
            continue
    return got


def test_process_lifecycle(tmp_path: Path) -> None:
    notify_path = tmp_path / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(notify_path))
    port = _free_port()
    env = {**os.environ, "NOTIFY_SOCKET": str(notify_path), "WATCHDOG_USEC": "2000000",
           "ARDUINO_TRADER_API__PORT": str(port),
           "ARDUINO_TRADER_TRADERNET_API_SECRET": SECRET,
           "ARDUINO_TRADER_LOG__LEVEL": "debug"}
    env.pop("ARDUINO_TRADER_CONFIG", None)
    started = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "arduino_trader", "run", "--data-dir", str(tmp_path / "state")],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=Path(__file__).parent.parent)
    try:
        body = None
        while time.monotonic() - started < 10 and body is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1) as r:
                    body = json.loads(r.read())
            except OSError:
                time.sleep(0.1)
        assert body is not None, "GET /health did not answer within 10 s"
        assert body["status"] in ("ok", "degraded")
        messages = _datagrams(sock, time.monotonic() + 2.5)
        assert any("READY=1" in m for m in messages), messages
        assert any("WATCHDOG=1" in m for m in messages), messages
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/system/status") as r:
            status = json.loads(r.read())
        assert status["actors"] and all(a["alive"] for a in status["actors"].values())
        assert SECRET not in json.dumps(status)
        t_stop = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=10)
        assert time.monotonic() - t_stop < 10
        assert proc.returncode == 0, err.decode()
        messages = _datagrams(sock, time.monotonic() + 0.3)
        assert any("STOPPING=1" in m for m in messages), messages
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
        sock.close()
    lines = [line for line in out.decode().splitlines() if line.strip()]
    assert lines, "no log output"
    events = [json.loads(line) for line in lines]  # every line is JSON
    assert all({"ts", "level", "event"} <= set(e) for e in events)
    names = {e["event"] for e in events}
    assert {"daemon_started", "daemon_stopping", "daemon_stopped"} <= names
    assert SECRET not in out.decode() and SECRET not in err.decode()
    assert (tmp_path / "state" / "api-token").stat().st_mode & 0o777 == 0o600


def test_refuses_bad_config_with_a_clear_error(tmp_path: Path) -> None:
    cfg = tmp_path / "bad.toml"
    cfg.write_text("max_trades_per_day = 0\n")
    proc = subprocess.run(
        [sys.executable, "-m", "arduino_trader", "run", "--config", str(cfg),
         "--data-dir", str(tmp_path / "s")],
        capture_output=True, timeout=60, cwd=Path(__file__).parent.parent, check=False)
    assert proc.returncode == 1
    assert b"max_trades_per_day" in proc.stderr and b"1..50" in proc.stderr
    assert not (tmp_path / "s").exists()
