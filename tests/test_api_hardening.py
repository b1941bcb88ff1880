"""Request-level hardening of the admin API on a running daemon: bodies nested beyond
any route's need are a 400 on every JSON route (never a RecursionError 500), and the
API answers only to loopback names and the names it is configured with."""

from __future__ import annotations

import http.client
import re
from collections.abc import Iterator
from typing import Any

import pytest
from daemon_harness import Client, ProbeDaemon, start_daemon
from reliability_support import manual_clock

from arduino_trader.adapters.store import securities_repo
from arduino_trader.daemon.api.app import ROUTERS
from arduino_trader.daemon.api.host_check import host_name, is_allowed
from arduino_trader.daemon.api.json_depth import MAX_DEPTH, nesting_depth

# The daemon lives for the module: the conftest stops no actor after each test.
DAEMON_FOR_THE_MODULE = True

JSON_ROUTES = sorted({(spec.method, spec.path) for router in ROUTERS
                      for spec in router.routes if spec.body is not None})
DEEP_BODIES = {"array": b"[" * 2000, "object": b'{"a":' * 2000 + b"1" + b"}" * 2000}


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProbeDaemon]:
    d = start_daemon(tmp_path_factory.mktemp("hardening"), clock=manual_clock(),
                     env={"ARDUINO_TRADER_API__ALLOWED_HOSTS": "trader.lan, pi.local"})
    securities_repo.insert_security(d.store, {  # PUT /api/securities/{isin} needs one
        "isin": PATH_VALUES["isin"], "symbol": "AAPL.US", "name": "Apple",
        "currency": "USD", "mic": "XNAS"}, d.clock.now())
    yield d
    d.stop()


PATH_VALUES = {"key": "min_hold_days", "isin": "US0378331005", "id": "1",
               "kind": "country", "bucket_id": "core"}


def _path(template: str) -> str:
    """A concrete path: each ``{param}`` filled with a well-formed value."""
    return re.sub(r"\{([^}]+)\}", lambda m: PATH_VALUES[m.group(1)], template)


def test_every_json_route_is_covered() -> None:
    assert ("POST", "/api/trades/execute") in JSON_ROUTES
    assert len(JSON_ROUTES) > 20


@pytest.mark.parametrize("kind", sorted(DEEP_BODIES))
@pytest.mark.parametrize(("method", "path"), JSON_ROUTES)
def test_deeply_nested_body_is_refused_with_400(daemon: ProbeDaemon, method: str, path: str,
                                                kind: str) -> None:
    code, body = Client(daemon).call(method, _path(path), raw=DEEP_BODIES[kind])
    assert (code, body["error"]) == (400, "invalid_json"), body


def test_nesting_depth_skips_strings() -> None:
    assert nesting_depth('{"a": "[[[[{{{{", "b": [1, [2]]}') == 3
    assert nesting_depth('["\\"[[[["]') == 1
    assert nesting_depth("[" * 5000) == MAX_DEPTH + 1  # stops counting past the limit


def _get(daemon: ProbeDaemon, host: str | None, path: str = "/health") -> tuple[int, Any]:
    conn = http.client.HTTPConnection("127.0.0.1", daemon.port, timeout=10)
    try:
        conn.putrequest("GET", path, skip_host=True)
        if host is not None:
            conn.putheader("Host", host)
        conn.endheaders()
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "[::1]", "127.0.0.2",
                                  "LOCALHOST", "trader.lan", "pi.local"])
def test_loopback_and_configured_hosts_are_served(daemon: ProbeDaemon, host: str) -> None:
    assert _get(daemon, f"{host}:{daemon.port}")[0] == 200


@pytest.mark.parametrize("host", ["evil.example", "127.0.0.1.evil.example",
                                  "trader.lan.evil.example", "192.168.1.20"])
def test_rebinding_hosts_are_refused(daemon: ProbeDaemon, host: str) -> None:
    for path in ("/health", "/api/broker/account", "/api/system/logs"):
        status, raw = _get(daemon, f"{host}:{daemon.port}", path)
        assert status == 403 and b"host_not_allowed" in raw, (path, status, raw)


@pytest.mark.parametrize(("header", "name"), [
    ("127.0.0.1:8000", "127.0.0.1"), ("[::1]:8000", "::1"), ("Trader.LAN", "trader.lan"),
    ("localhost.", "localhost"), ("[::1]", "::1")])
def test_host_name(header: str, name: str) -> None:
    assert host_name(header) == name


def test_bind_address_is_allowed_unless_it_is_every_interface() -> None:
    assert is_allowed("192.168.1.20", "192.168.1.20", "")
    assert not is_allowed("192.168.1.20", "0.0.0.0", "")
    assert is_allowed("192.168.1.20", "0.0.0.0", "192.168.1.20")
