"""An in-process daemon on 127.0.0.1 with an ephemeral port, for API tests."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from arduino_trader.actors.base import BaseActor, RuntimeContext, handles
from arduino_trader.config.settings import Settings, load_settings
from arduino_trader.daemon.service import DaemonOptions, TraderDaemon
from arduino_trader.daemon.supervisor import ActorSpec
from arduino_trader.protocols.clock import Clock
from arduino_trader.protocols.jobs import JobSpec
from arduino_trader.protocols.messages import JobOutcome, RunJob


class Crash:
    """Told to the probe actor: raise (the supervisor must restart it)."""


class ProbeActor(BaseActor):
    """A test actor with a slow job (gated), a crash switch, and a job failure switch:
    while ``fail`` is set, the job marks this actor's memory dirty and raises."""

    name = "probe"

    def __init__(self, ctx: RuntimeContext, gate: threading.Event,
                 fail: threading.Event) -> None:
        super().__init__(ctx)
        self.gate = gate
        self.fail = fail
        self.dirty = False

    @handles(RunJob)
    def _run(self, msg: RunJob) -> JobOutcome:
        if self.fail.is_set():
            self.dirty = True
            raise RuntimeError("probe job failed on purpose")
        if self.dirty:
            return JobOutcome(False, "ran on the memory a failed job left")
        for _ in range(200):
            if self.gate.wait(0.05):
                break
            if self.ctx.stopping.is_set():
                return JobOutcome(False, "cancelled: daemon stopping")
        else:
            return JobOutcome(False, "gate never opened")
        return JobOutcome(True, "probe ran")

    @handles(Crash)
    def _crash(self, msg: Crash) -> None:
        raise RuntimeError("probe crash on purpose")


class ProbeDaemon(TraderDaemon):
    """The real daemon plus the probe actor and its manual job."""

    def __init__(self, options: DaemonOptions,
                 checks: Callable[[], dict[str, Any]] | None = None) -> None:
        super().__init__(options)
        self.gate = threading.Event()
        self.fail = threading.Event()
        self._checks_override = checks

    def actor_specs(self) -> list[ActorSpec]:
        specs = super().actor_specs()
        health = specs[0]
        expected = (*health.kwargs["expected"], "probe")
        specs[0] = ActorSpec(health.name, health.actor_class,
                             {**health.kwargs, "expected": expected},
                             subscriptions=health.subscriptions)
        return [*specs, ActorSpec("probe", ProbeActor, {"gate": self.gate, "fail": self.fail},
                                  depends_on=("health",))]

    def job_specs(self) -> tuple[JobSpec, ...]:
        return (*super().job_specs(), JobSpec("probe_job", "probe", "gated test job"))

    def _run_checks(self) -> dict[str, Any]:
        if self._checks_override is not None:
            return self._checks_override()
        return super()._run_checks()


def start_daemon(data_dir: Path, env: Mapping[str, str] | None = None,
                 config: Path | None = None, clock: Clock | None = None,
                 daemon_class: type[ProbeDaemon] = ProbeDaemon, **kw: Any) -> ProbeDaemon:
    """Start a probe daemon on an ephemeral loopback port (wall clock unless given)."""
    settings: Settings = load_settings(config, environ=dict(env or {}))
    options = DaemonOptions(settings=settings, data_dir=data_dir, configure_logs=False,
                            port_override=0, supervisor_backoff_s=0.2)
    if clock is not None:
        options.clock = clock
    daemon = daemon_class(options, **kw)
    daemon.start()
    return daemon


class Client:
    """Tiny synchronous JSON client for the admin API."""

    def __init__(self, daemon: TraderDaemon) -> None:
        self.base = f"http://127.0.0.1:{daemon.port}"
        self.token = daemon.token

    def call(self, method: str, path: str, body: Any = None, *, token: str | None = "auto",
             raw: bytes | None = None) -> tuple[int, Any]:
        data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        req = urllib.request.Request(self.base + path, data=data, method=method)
        req.add_header("Content-Type", "application/json")
        use = self.token if token == "auto" else token
        if use:
            req.add_header("Authorization", f"Bearer {use}")
        try:
            with urllib.request.urlopen(req, timeout=15) as resp:
                return resp.status, json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as exc:
            text = exc.read()
            try:
                return exc.code, json.loads(text or b"null")
            except ValueError:
                return exc.code, text.decode(errors="replace")


def wait_for(cond: Callable[[], bool], timeout: float = 10.0, what: str = "condition") -> None:
    """Poll ``cond`` until true; AssertionError naming ``what`` on timeout."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def markets_view(api: Client, timeout: float = 60.0) -> dict[str, Any]:
    """``GET /api/system/markets`` once the calendars are built: 503
    ``calendars_loading`` until then, any other answer fails."""
    answers: list[tuple[int, Any]] = []

    def answered() -> bool:
        answers.append(api.call("GET", "/api/system/markets"))
        code, body = answers[-1]
        assert code == 200 or body["error"] == "calendars_loading", body
        return code == 200

    wait_for(answered, timeout, "the markets view")
    body: dict[str, Any] = answers[-1][1]
    return body
