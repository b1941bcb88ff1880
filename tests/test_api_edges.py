"""Edges a newcomer hits in the admin API: undocumented query parameters, bodies read
differently from how they are documented, dividends without an ISIN, re-adding a
deactivated security, and an analytics answer that is a 200 with an ``error`` field."""

from __future__ import annotations

import ast
import inspect
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from daemon_harness import Client, ProbeDaemon, start_daemon, wait_for

from arduino_trader.daemon.api.app import ROUTERS
from arduino_trader.daemon.api.router import RouteSpec

AAPL = "US0378331005"
ROUTES: list[RouteSpec] = [spec for router in ROUTERS for spec in router.routes]


def _job_done(api: Client, name: str) -> None:
    def done() -> bool:
        state = api.call("GET", f"/api/system/jobs/{name}")[1]
        return bool(state["runs"] >= 1 and state["status"] == "idle")
    wait_for(done, 30, f"job {name}")


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[tuple[ProbeDaemon, Client]]:
    daemon = start_daemon(tmp_path / "state")
    yield daemon, Client(daemon)
    daemon.gate.set()
    daemon.stop()


# ----------------------------------------------------------------- query parameters
def test_unknown_query_parameter_is_refused_naming_the_known_ones(
        demo: tuple[ProbeDaemon, Client]) -> None:
    _, api = demo
    code, err = api.call("GET", "/api/system/logs?limit=2")
    assert code == 400 and err["error"] == "unknown_query_parameter", err
    assert err["unknown"] == ["limit"] and "lines" in err["known"]
    assert "lines" in err["message"]
    code, body = api.call("GET", "/api/system/logs?lines=2")
    assert code == 200 and len(body["lines"]) <= 2
    code, err = api.call("GET", "/api/system/status?verbose=1")
    assert code == 400 and err["known"] == [] and "none" in err["message"]
    assert api.call("GET", "/api/trades?limit=5")[0] == 200  # documented now


def _module_functions(handler: Any) -> dict[str, ast.AST]:
    module = ast.parse(inspect.getsource(inspect.getmodule(handler)))
    return {n.name: n for n in module.body
            if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)}


def _query_names_read(handler: Any) -> set[str]:
    """Literal names a handler reads from ``request.query``, directly or through a
    module helper called with the name (``_limit(request, "limit")``)."""
    functions = _module_functions(handler)
    tree = ast.parse(textwrap.dedent(inspect.getsource(handler)))
    aliases = {"request.query"}
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and ast.unparse(node.value) == "request.query":
            aliases |= {ast.unparse(t) for t in node.targets}
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                and node.func.attr == "get" and ast.unparse(node.func.value) in aliases:
            names |= {a.value for a in node.args[:1] if isinstance(a, ast.Constant)}
        elif isinstance(node, ast.Subscript) and ast.unparse(node.value) in aliases \
                and isinstance(node.slice, ast.Constant):
            names.add(node.slice.value)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) \
                and node.func.id in functions:
            helper = ast.unparse(functions[node.func.id])
            if "request.query" in helper:
                literal = [a.value for a in node.args if isinstance(a, ast.Constant)
                           and isinstance(a.value, str)]
                names |= set(literal) or set(_helper_default_names(helper))
    return names


def _helper_default_names(helper_source: str) -> list[str]:
    tree = ast.parse(helper_source)
    return [n.args[0].value for n in ast.walk(tree)
            if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)
            and n.func.attr == "get" and "query" in ast.unparse(n.func.value)
            and n.args and isinstance(n.args[0], ast.Constant)]


@pytest.mark.parametrize("spec", ROUTES, ids=lambda s: f"{s.method} {s.path}")
def test_every_query_parameter_read_is_documented(spec: RouteSpec) -> None:
    read = _query_names_read(spec.handler)
    documented = {q.name for q in spec.query}
    assert read <= documented, f"reads {sorted(read - documented)} without documenting them"
    assert documented <= read, f"documents {sorted(documented - read)} it never reads"


# ----------------------------------------------------------------------------- bodies
def _structs_read(spec: RouteSpec) -> set[object]:
    """The body types a handler reads: each ``read_struct(request, Kind)`` in its source."""
    source = textwrap.dedent(inspect.getsource(spec.handler))
    module = inspect.getmodule(spec.handler)
    return {getattr(module, node.args[1].id) for node in ast.walk(ast.parse(source))
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
            and node.func.id == "read_struct" and isinstance(node.args[1], ast.Name)}


@pytest.mark.parametrize("spec", [s for s in ROUTES if s.body is not None or "read_struct("
                                  in inspect.getsource(s.handler)],
                         ids=lambda s: f"{s.method} {s.path}")
def test_documented_body_is_the_one_the_route_reads(spec: RouteSpec) -> None:
    """One declaration: the Struct the OpenAPI document shows is the one that validates."""
    assert _structs_read(spec) == {spec.body}


def test_group_body_documents_country_names_and_apply_preset_reads_the_body(
        demo: tuple[ProbeDaemon, Client]) -> None:
    _, api = demo
    document = api.call("GET", "/api/openapi.json")[1]
    put = document["paths"]["/api/allocation/groups/{kind}"]["put"]
    schema = put["requestBody"]["content"]["application/json"]["schema"]
    assert {"group_name", "country_names", "industry_names"} <= set(schema["properties"])
    code, group = api.call("PUT", "/api/allocation/groups/country",
                           {"group_name": "NA", "country_names": ["United States"]})
    assert code == 200 and group["country_names"] == ["United States"]
    preset = document["paths"]["/api/satellites/satellites/{bucket_id}/apply-preset"]["post"]
    assert "preset_name" in preset["requestBody"]["content"]["application/json"][
        "schema"]["properties"]


# -------------------------------------------------------------------------- securities
def test_dividend_for_a_known_symbol_stores_its_isin(demo: tuple[ProbeDaemon, Client]) -> None:
    daemon, api = demo
    _job_done(api, "sync_securities_data")
    code, created = api.call("POST", "/api/dividends", {
        "symbol": "AAPL.US", "amount": "1.20", "currency": "EUR", "payment_date": "2026-02-12"})
    assert code == 201 and created["isin"] == AAPL, created
    before = daemon.store.fetch_one(
        "SELECT COUNT(*) AS n FROM dividend_history")
    code, err = api.call("POST", "/api/dividends", {
        "symbol": "AAPL.US", "isin": "US5949181045", "amount": "1", "currency": "EUR",
        "payment_date": "2026-02-12"})
    assert code == 400 and err["error"] == "isin_mismatch"
    code, err = api.call("POST", "/api/dividends", {
        "symbol": "NOPE.US", "amount": "1", "currency": "EUR", "payment_date": "2026-02-12"})
    assert code == 400 and err["error"] == "unknown_security"
    after = daemon.store.fetch_one(
        "SELECT COUNT(*) AS n FROM dividend_history")
    assert before is not None and after is not None and after["n"] == before["n"]


def test_a_deactivated_security_is_reactivated_by_add_by_identifier(
        demo: tuple[ProbeDaemon, Client]) -> None:
    _, api = demo
    _job_done(api, "sync_securities_data")
    code, gone = api.call("DELETE", f"/api/securities/{AAPL}")
    assert code == 200 and gone["active"] is False
    code, back = api.call("POST", "/api/securities/add-by-identifier",
                          {"identifier": "AAPL.US", "min_lot": 2})
    assert code == 202, back
    assert back["isin"] == AAPL and back["active"] is True and back["min_lot"] == 2
    code, err = api.call("POST", "/api/securities/add-by-identifier", {"identifier": AAPL})
    assert code == 400 and err["error"] == "duplicate_security"  # active: still refused
