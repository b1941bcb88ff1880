"""The sandbox HTTP server: the Tradernet protocol on a loopback port.

``POST /api/<command>`` is checked like the real API: public key, timestamp within 60 s,
HMAC-SHA256 over the raw body + the timestamp header. ``GET /api/?q=...`` serves the
public commands. Every authenticated request moves open orders one status step.

A control surface for tests and rehearsals (unsigned, loopback only) lives under
``/sandbox/``: ``POST /sandbox/faults`` queues a fault, ``DELETE /sandbox/faults`` clears
them, ``GET /sandbox/state`` dumps the account, ``POST /sandbox/advance`` steps orders,
``POST /sandbox/deposit`` books a cash movement, ``POST /sandbox/dividend`` pays a
dividend on a held position (``{ticker, amount, currency?}``), ``POST /sandbox/markets``
closes/opens markets.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import signal
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from aiohttp import web

from arduino_trader.adapters.tradernet.signing import (
    PUBLIC_KEY_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    signature_matches,
)

from .account import SandboxAccount, SandboxReject
from .commands import MUTATING, PUBLIC, SIGNED

DEMO_PUBLIC_KEY = "sandbox-public-key"
DEMO_PRIVATE_KEY = "sandbox-private-key"
MAX_SKEW_S = 60
STOP_GRACE_S = 2.0  # how long a stopping sandbox waits for open connections
FAULT_KINDS = ("latency", "rate_limit", "errmsg", "drop_after_accept", "drop", "malformed",
               "http_error")


@dataclass
class Fault:
    """One queued fault: applies to the next ``times`` matching requests."""

    kind: str
    command: str | None = None
    times: int = 1
    delay_s: float = 0.0
    message: str = "Internal error, try again later"
    code: int = 14
    status: int = 502
    taken_at: float | None = None
    """When a request last took this fault (monotonic seconds), None before."""
    answered_at: float | None = None
    """When the sandbox last finished a request that took it (its answer and its
    effects, e.g. a booked order, are there), None before."""

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; one of {FAULT_KINDS}")
        if self.times < 1:
            raise ValueError("times must be >= 1")


class Sandbox:
    """Account + fault queue + signature checks; :meth:`app` builds the aiohttp app."""

    def __init__(self, account: SandboxAccount, *, public_key: str = DEMO_PUBLIC_KEY,
                 private_key: str = DEMO_PRIVATE_KEY,
                 wall_time: Callable[[], float] = time.time) -> None:
        self.account = account
        self.public_key = public_key
        self.private_key = private_key
        self.wall_time = wall_time
        self.faults: list[Fault] = []
        self.requests: deque[str] = deque(maxlen=10_000)  # recent command names
        self._lock = threading.Lock()

    @classmethod
    def create(cls, state: Path | None = None, seed: int = 1, **kw: Any) -> Sandbox:
        """A sandbox over ``state`` (created with the demo account if missing)."""
        wall_time = kw.get("wall_time", time.time)
        account = SandboxAccount.open(state, seed, datetime.fromtimestamp(wall_time(), UTC))
        return cls(account, **kw)

    def now(self) -> datetime:
        """The sandbox's current time."""
        return datetime.fromtimestamp(self.wall_time(), UTC)

    # ------------------------------------------------------------------- faults
    def inject(self, kind: str, **kw: Any) -> Fault:
        """Queue a fault (see :data:`FAULT_KINDS`)."""
        fault = Fault(kind, **kw)
        with self._lock:
            self.faults.append(fault)
        return fault

    def clear_faults(self) -> None:
        """Drop every queued fault."""
        with self._lock:
            self.faults.clear()

    def _take_fault(self, command: str) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if fault.command in (None, command):
                    fault.taken_at = time.monotonic()
                    fault.times -= 1
                    if fault.times <= 0:
                        self.faults.remove(fault)
                    return fault
        return None

    # ----------------------------------------------------------------- protocol
    def check_signature(self, body: str, headers: Any) -> tuple[str, int] | None:
        """None when the request is authentic, else the (errMsg, code) to answer."""
        public = headers.get(PUBLIC_KEY_HEADER)
        stamp = headers.get(TIMESTAMP_HEADER)
        signature = headers.get(SIGNATURE_HEADER)
        if not public or not stamp or not signature:
            return ("Unauthorized: X-NtApi-PublicKey, X-NtApi-Timestamp and X-NtApi-Sig "
                    "headers are required", 2)
        if not secrets.compare_digest(public.encode(), self.public_key.encode()):
            return "Invalid public key", 2
        if not stamp.isdigit():
            return "Invalid timestamp", 2
        if abs(self.wall_time() - int(stamp)) > MAX_SKEW_S:
            return "Timestamp is out of the allowed window", 2
        if not signature_matches(self.private_key, body, stamp, signature):
            return "Invalid signature", 2
        return None

    def execute(self, command: str, params: dict[str, Any], *, public: bool = False) -> Any:
        """Run one command against the account (orders step first on signed calls)."""
        now = self.now()
        table = PUBLIC if public else SIGNED
        handler = table.get(command)
        if handler is None:
            raise SandboxReject(f"Unknown command {command!r}", 2)
        if not public and command not in MUTATING:
            self.account.advance(now)
        return handler(self.account, params, now)

    async def _api(self, request: web.Request) -> web.StreamResponse:
        command = request.match_info["command"]
        raw = await request.read()
        self.requests.append(command)
        try:
            body = raw.decode("utf-8")
        except UnicodeDecodeError:
            return _json({"errMsg": "Bad request: body is not UTF-8", "code": 2})
        refused = self.check_signature(body, request.headers)
        if refused is not None:
            return _json({"errMsg": refused[0], "code": refused[1]})
        try:
            params = json.loads(body) if body.strip() else {}
        except ValueError:
            return _json({"errMsg": "Bad request: malformed JSON", "code": 2})
        if not isinstance(params, dict):
            return _json({"errMsg": "Bad request: params must be an object", "code": 2})
        return await self._answer(request, command, params, public=False)

    async def _public(self, request: web.Request) -> web.StreamResponse:
        raw = request.query.get("q")
        if raw is None:
            return _json({"errMsg": "Bad request: q is required", "code": 2})
        try:
            message = json.loads(raw)
            command = str(message["cmd"])
            params = message.get("params") or {}
        except (ValueError, KeyError, TypeError, AttributeError):
            return _json({"errMsg": "Bad request: malformed q", "code": 2})
        self.requests.append(command)
        if command not in PUBLIC:
            return _json({"errMsg": f"Command {command!r} needs a signed request", "code": 2})
        return await self._answer(request, command, params, public=True)

    async def _answer(self, request: web.Request, command: str, params: dict[str, Any], *,
                      public: bool) -> web.StreamResponse:
        fault = self._take_fault(command)
        if fault is not None and fault.kind == "latency":
            await asyncio.sleep(fault.delay_s)
        if fault is not None:
            early = _fault_response(request, fault)
            if early is not None:
                return early
        try:
            answer = self.execute(command, params, public=public)
        except SandboxReject as exc:
            answer = {"error": exc.message, "code": exc.code}
        if fault is not None:
            fault.answered_at = time.monotonic()
        if fault is not None and fault.kind == "drop_after_accept":
            _drop(request)
            return web.Response(status=200)
        return _json(answer)

    # ------------------------------------------------------------------ control
    async def _ctl_faults(self, request: web.Request) -> web.Response:
        if request.method == "DELETE":
            self.clear_faults()
            return _json({"faults": 0})
        try:
            spec = await request.json()
            fault = self.inject(**spec)
        except (ValueError, TypeError) as exc:
            return _json({"error": str(exc)}, status=400)
        return _json({"queued": fault.kind, "faults": len(self.faults)})

    async def _ctl_state(self, request: web.Request) -> web.Response:
        with self.account.lock:
            return _json(self.account.state)

    async def _ctl_advance(self, request: web.Request) -> web.Response:
        steps = int(request.query.get("steps", "1"))
        for _ in range(max(0, min(steps, 100))):
            self.account.advance(self.now())
        return _json({"ok": True})

    async def _ctl_deposit(self, request: web.Request) -> web.Response:
        try:
            spec = await request.json()
            amount = Decimal(str(spec["amount"]))
            currency = str(spec.get("currency", "EUR")).upper()
        except (ValueError, KeyError, TypeError, InvalidOperation) as exc:
            return _json({"error": f"need {{amount, currency}}: {exc}"}, status=400)
        self.account.deposit(currency, amount, self.now(),
                             type_code=str(spec.get("type_code", "card")),
                             comment=str(spec.get("comment", "Sandbox deposit")))
        return _json({"cash": self.account.state["cash"]})

    async def _ctl_dividend(self, request: web.Request) -> web.Response:
        try:
            spec = await request.json()
            ticker = str(spec["ticker"])
            amount = Decimal(str(spec["amount"]))
            currency = str(spec["currency"]) if spec.get("currency") else None
        except (ValueError, KeyError, TypeError, InvalidOperation) as exc:
            return _json({"error": f"need {{ticker, amount, currency?}}: {exc}"}, status=400)
        try:
            row = self.account.book_dividend(ticker, amount, currency, self.now())
        except SandboxReject as exc:
            return _json({"error": exc.message}, status=400)
        return _json({"cash_flow": row, "cash": self.account.state["cash"]})

    async def _ctl_markets(self, request: web.Request) -> web.Response:
        try:
            spec = await request.json()
            closed = [str(c) for c in spec.get("closed", [])]
        except (ValueError, TypeError, AttributeError) as exc:
            return _json({"error": str(exc)}, status=400)
        with self.account.lock:
            self.account.state["closed_markets"] = closed
            self.account.save()
        return _json({"closed": closed})

    def app(self) -> web.Application:
        """The aiohttp application."""
        app = web.Application(client_max_size=1_000_000)
        app.router.add_post("/api/{command}", self._api)
        app.router.add_get("/api/", self._public)
        app.router.add_get("/api", self._public)
        app.router.add_route("*", "/sandbox/faults", self._ctl_faults)
        app.router.add_get("/sandbox/state", self._ctl_state)
        app.router.add_post("/sandbox/advance", self._ctl_advance)
        app.router.add_post("/sandbox/deposit", self._ctl_deposit)
        app.router.add_post("/sandbox/dividend", self._ctl_dividend)
        app.router.add_post("/sandbox/markets", self._ctl_markets)
        return app


def _json(data: Any, status: int = 200) -> web.Response:
    return web.Response(text=json.dumps(data, separators=(",", ":")), status=status,
                        content_type="application/json")


def _drop(request: web.Request) -> None:
    transport = request.transport
    if transport is not None:
        transport.close()


def _fault_response(request: web.Request, fault: Fault) -> web.StreamResponse | None:
    if fault.kind == "rate_limit":
        return web.Response(status=429, text="Too Many Requests",
                            headers={"Retry-After": str(int(fault.delay_s))})
    if fault.kind == "errmsg":
        return _json({"errMsg": fault.message, "code": fault.code})
    if fault.kind == "malformed":
        return web.Response(status=200, text='{"result": {"ps": [', content_type="application/json")
    if fault.kind == "http_error":
        return web.Response(status=fault.status, text="<html>Bad Gateway</html>",
                            content_type="text/html")
    if fault.kind == "drop":
        _drop(request)
        return web.Response(status=200)
    return None


class SandboxServer:
    """Runs a :class:`Sandbox` on a host/port in the current event loop."""

    def __init__(self, sandbox: Sandbox, host: str = "127.0.0.1", port: int = 0) -> None:
        self.sandbox = sandbox
        self.host = host
        self.port = port
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        """Base URL of the running server."""
        return f"http://{self.host}:{self.port}"

    async def start(self) -> None:
        """Listen (port 0 = ephemeral; the bound port is stored in :attr:`port`)."""
        # a short grace on stop: a client that kept a connection open must not hold Ctrl-C
        # (or a test's teardown) for aiohttp's default minute
        self._runner = web.AppRunner(self.sandbox.app(), access_log=None, handle_signals=False,
                                     shutdown_timeout=STOP_GRACE_S)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        if self._runner.addresses:
            self.port = int(self._runner.addresses[0][1])

    async def stop(self) -> None:
        """Stop listening."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None


class SandboxThread:
    """A sandbox server on its own event loop thread (for synchronous callers and tests)."""

    def __init__(self, sandbox: Sandbox, host: str = "127.0.0.1", port: int = 0) -> None:
        self.server = SandboxServer(sandbox, host, port)
        self.sandbox = sandbox
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="sandbox",
                                        daemon=True)

    @property
    def url(self) -> str:
        """Base URL of the running server."""
        return self.server.url

    def start(self) -> SandboxThread:
        """Start the loop thread and the server; returns self."""
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self.server.start(), self._loop).result(10)
        return self

    def stop(self) -> None:
        """Stop the server and the loop thread."""
        if self._thread.is_alive():
            asyncio.run_coroutine_threadsafe(self.server.stop(), self._loop).result(10)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
        self._loop.close()


def serve_forever(sandbox: Sandbox, host: str, port: int,
                  announce: Callable[[str], None] = print) -> None:
    """Run until SIGINT (Ctrl-C) or SIGTERM (the ``arduino-trader sandbox`` command)."""

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            # set here, before the announcement, not inherited: a shell that starts a
            # command in the background without job control leaves SIGINT ignored
            loop.add_signal_handler(signum, stop.set)
        server = SandboxServer(sandbox, host, port)
        await server.start()
        announce(f"Tradernet sandbox listening on {server.url}")
        announce(f"  public key:  {sandbox.public_key}")
        announce(f"  private key: {sandbox.private_key}")
        path = sandbox.account.path
        announce(f"  state file:  {path if path else '(in memory, not persisted)'}")
        announce("  daemon env:  ARDUINO_TRADER_BROKER__KIND=tradernet "
                 f"ARDUINO_TRADER_BROKER__BASE_URL={server.url}")
        try:
            await stop.wait()
        finally:
            await server.stop()

    # a parent may have left them blocked (a thread's signal mask survives fork and exec)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGTERM})
    asyncio.run(main())
