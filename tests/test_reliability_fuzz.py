"""API fuzzing with schemathesis against a running daemon's ``/api/openapi.json``.

Every operation gets a few generated requests (valid token): no 5xx, every response
matches its declared status and schema, and a rejected (4xx) mutating request changes no
table of the store. Every mutating operation refuses a missing and a wrong token and
writes nothing then. ``benchmarks/fuzz_api.py`` runs the same with many more examples.
"""

from __future__ import annotations

import json
import os
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pykka
import pytest
import requests
import schemathesis
from daemon_harness import Client, ProbeDaemon, markets_view, start_daemon
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from reliability_support import AUDIT_TABLES, StoreWatch, db_path, manual_clock, wait_idle
from schemathesis import GenerationMode
from schemathesis import checks as st_checks

from arduino_trader.daemon.api.app import ROUTERS
from arduino_trader.daemon.api.openapi import build_openapi
from arduino_trader.daemon.api.router import MUTATING_METHODS

# The daemon lives for the module: the conftest stops no actor after each test.
DAEMON_FOR_THE_MODULE = True

# Examples per operation: small in CI; ``FUZZ_EXAMPLES`` (the script) raises it.
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "5"))
CHECKS = [st_checks.not_a_server_error, st_checks.status_code_conformance,
          st_checks.content_type_conformance, st_checks.response_schema_conformance]
# Records of the attempt itself, written by design when a request is refused: the job
# run that evaluated it and the order rejection (layer, code) of the safety pipeline.
# Every other table (ledgers, settings, audit log, buckets, ...) must stay unchanged.


_DOCUMENT = build_openapi([spec for router in ROUTERS for spec in router.routes])
_SCHEMA = schemathesis.openapi.from_dict(_DOCUMENT)
# Event streams never end, so a fuzzing request would wait for ever: they are tested in
# tests/test_event_streams.py.
OPERATIONS: list[tuple[str, str]] = sorted(
    (method.upper(), path) for path, item in _DOCUMENT["paths"].items() for method, op in
    item.items() if "text/event-stream" not in op["responses"].get("200", {}).get("content", {}))
MUTATING = [op for op in OPERATIONS if op[0] in MUTATING_METHODS]


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProbeDaemon]:
    """One daemon for the module, on a frozen clock (no schedule fires while fuzzing) and
    with the debounced re-plan after price updates pushed out of the run (it would write
    plans in the background, between a request and its digest)."""
    d = start_daemon(tmp_path_factory.mktemp("fuzz") / "state", clock=manual_clock(),
                     env={"ARDUINO_TRADER_PLANNER_DEBOUNCE_SECONDS": "3600"})
    try:
        # The paper account opens (its opening cash booked) on first use: open it now, so
        # that no background first use lands between a request and its digest.
        d.io.run(d._broker_pair()[1].probe(), 10)
        markets_view(Client(d))  # built once: the view answers 503 while they build
        wait_idle(d, 60)
        yield d
    finally:
        d.stop()
        pykka.ActorRegistry.stop_all(block=True, timeout=10)


@pytest.fixture(scope="module")
def watch(daemon: ProbeDaemon) -> Iterator[StoreWatch]:
    w = StoreWatch(db_path(daemon))
    yield w
    w.close()


@pytest.fixture(scope="module")
def session() -> Iterator[requests.Session]:
    with requests.Session() as s:
        yield s


def _base(daemon: ProbeDaemon) -> str:
    return f"http://127.0.0.1:{daemon.port}"


def test_served_document_is_the_declared_one(daemon: ProbeDaemon) -> None:
    """The fuzzed document is exactly what the daemon serves."""
    with urllib.request.urlopen(_base(daemon) + "/api/openapi.json", timeout=10) as resp:
        served = json.loads(resp.read())
    assert served == json.loads(json.dumps(_DOCUMENT))
    assert len(OPERATIONS) > 100


def test_every_mutating_route_requires_the_token() -> None:
    """No mutating route is declared without auth (the fuzzer then proves it is enforced)."""
    for path, item in _DOCUMENT["paths"].items():
        for method, op in item.items():
            if method.upper() in MUTATING_METHODS:
                assert op.get("security") == [{"bearer": []}], f"{method} {path}"


def _operation(method: str, path: str) -> Any:
    return _SCHEMA[path][method]


def _settle(daemon: ProbeDaemon) -> None:
    wait_idle(daemon, 60)


@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_fuzz_operation(daemon: ProbeDaemon, session: requests.Session, watch: StoreWatch,
                        method: str, path: str) -> None:
    """Generated requests: no 5xx, conforming responses, rejected writes change nothing."""
    operation = _operation(method, path)
    base = _base(daemon)
    headers = {"Authorization": f"Bearer {daemon.token}"}
    mutating = method in MUTATING_METHODS

    @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
              phases=[Phase.explicit, Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy())
    def run(case: Any) -> None:
        _settle(daemon)  # an actor busy with a job answers late (503), not wrongly
        if mutating:
            watch.mark()
        response = case.call(base_url=base, headers=headers, session=session, timeout=30)
        case.validate_response(response, checks=CHECKS, headers=headers)
        if mutating and 400 <= response.status_code < 500:
            changed = watch.changed(AUDIT_TABLES)
            assert changed == [], (f"{method} {path} answered {response.status_code} but "
                                   f"changed {changed}: {response.text[:300]}")

    run()


@pytest.mark.parametrize(("method", "path"), MUTATING, ids=[f"{m} {p}" for m, p in MUTATING])
def test_invalid_input_is_refused_and_writes_nothing(
        daemon: ProbeDaemon, session: requests.Session, watch: StoreWatch, method: str,
        path: str) -> None:
    """Schema-violating requests (negative mode, valid token): never a 5xx, and a
    refusal writes nothing."""
    operation = _operation(method, path)
    headers = {"Authorization": f"Bearer {daemon.token}"}

    @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
              phases=[Phase.generate], suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy(GenerationMode.NEGATIVE))
    def run(case: Any) -> None:
        _settle(daemon)
        watch.mark()
        response = case.call(base_url=_base(daemon), headers=headers, session=session,
                             timeout=30)
        assert response.status_code < 500, (case.body, response.text[:300])
        if 400 <= response.status_code < 500:
            assert response.json()["error"], response.text[:300]
            changed = watch.changed(AUDIT_TABLES)
            assert changed == [], (f"{method} {path} answered {response.status_code} but "
                                   f"changed {changed}: {response.text[:300]}")

    run()


@pytest.mark.parametrize(("method", "path"), MUTATING, ids=[f"{m} {p}" for m, p in MUTATING])
def test_mutating_route_refuses_bad_tokens(daemon: ProbeDaemon, session: requests.Session,
                                           watch: StoreWatch, method: str, path: str) -> None:
    """Without a token 401, with a wrong one 403; either way nothing is written."""
    operation = _operation(method, path)

    @settings(max_examples=2, deadline=None, database=None, derandomize=True,
              phases=[Phase.explicit, Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy(), wrong=st.sampled_from(
        [None, "wrong", daemon.token + "x", "Basic " + daemon.token]))
    def run(case: Any, wrong: str | None) -> None:
        _settle(daemon)
        watch.mark()
        headers = {} if wrong is None else (
            {"Authorization": wrong} if wrong.startswith("Basic ")
            else {"Authorization": f"Bearer {wrong}"})
        case.headers = {k: v for k, v in (case.headers or {}).items()
                        if k.lower() != "authorization"}
        response = case.call(base_url=_base(daemon), headers=headers, session=session,
                             timeout=30)
        expected = 403 if wrong is not None and not wrong.startswith("Basic ") else 401
        assert response.status_code == expected, (method, path, wrong, response.text[:200])
        assert response.json()["error"] in ("unauthorized", "forbidden")
        assert watch.changed() == []

    run()


def test_document_lists_every_operation_once(daemon: ProbeDaemon) -> None:
    """Sanity of the parametrisation: one test per (method, path), none missed."""
    served = {(m.upper(), p) for p, item in _DOCUMENT["paths"].items() for m in item}
    streams = {("GET", "/api/events/stream"), ("GET", "/api/trades/recommendations/stream"),
               ("GET", "/api/planner/status/stream")}
    assert served - streams == set(OPERATIONS)
    assert Path(db_path(daemon)).exists()
