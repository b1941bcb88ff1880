"""Request bodies at the level the client sees: one Struct per body validates it, names the
field in the 400 and is the OpenAPI request schema; a refused body changes no table."""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import msgspec
import pytest
from daemon_harness import Client, ProbeDaemon
from hypothesis import given, settings
from hypothesis import strategies as st
from reliability_support import call_unchanged, start_settled_daemon

from arduino_trader.daemon.api.app import ROUTERS
from arduino_trader.daemon.api.body import Body, Num, decimal_fields, decode
from arduino_trader.daemon.api.errors import ApiError
from arduino_trader.domain.cash_flows.normalise import KNOWN_CURRENCIES

# The daemon lives for the module: the conftest stops no actor after each test.
DAEMON_FOR_THE_MODULE = True

SPECS = [spec for router in ROUTERS for spec in router.routes if spec.body is not None]
KINDS = sorted({spec.body for spec in SPECS if spec.body is not None}, key=lambda k: k.__name__)
SAT = "/api/satellites"

# (method, path, raw body, status, error, field)
BAD: list[tuple[str, str, Any, int, str, str | None]] = [
    # wrong types
    ("POST", "/api/trades/validate", {"symbol": 5, "side": "BUY", "quantity": 1}, 400,
     "invalid_field", "symbol"),
    ("POST", "/api/trades/validate", {"symbol": "X", "side": "BUY", "quantity": True}, 400,
     "invalid_field", "quantity"),
    ("PUT", "/api/securities/US0378331005", {"min_lot": "2"}, 400, "invalid_field",
     "min_lot"),
    ("PUT", "/api/securities/US0378331005", {"active": 1}, 400, "invalid_field", "active"),
    ("POST", f"{SAT}/satellites", {"id": "s9", "name": "x", "start_in_research": "no"}, 400,
     "invalid_field", "start_in_research"),
    ("POST", "/api/dividends", {"symbol": "KO.US", "amount": "1", "currency": "EUR",
                                "payment_date": "March"}, 400, "invalid_field",
     "payment_date"),
    # unknown fields
    ("POST", "/api/trades/kill-switch", {"confirm": "STOP TRADING", "now": True}, 400,
     "unknown_field", "now"),
    ("POST", f"{SAT}/balances/deposit", {"amount": "5", "from": "x"}, 400, "unknown_field",
     "from"),
    ("PUT", "/api/allocation/groups/country", {"group_name": "G", "industry_names": ["x"]},
     400, "unknown_field", "industry_names"),
    # missing fields
    ("POST", "/api/fx/exchange", {"from": "EUR", "amount": "5"}, 400, "missing_field", "to"),
    ("POST", f"{SAT}/balances/deposit", {"amount": "5"}, 400, "missing_field", "request_id"),
    ("POST", f"{SAT}/reconcile", {}, 400, "missing_field", "currency"),
    ("POST", "/api/trades/recommendations/execute", {}, 400, "confirmation_required",
     "confirm"),
    # out of range
    ("POST", "/api/trades/validate", {"symbol": "X", "side": "BUY", "quantity": "2.5"}, 400,
     "invalid_field", "quantity"),
    ("POST", "/api/trades/validate", {"symbol": "X", "side": "BUY", "quantity": 0}, 400,
     "invalid_field", "quantity"),
    ("POST", "/api/fx/exchange", {"from": "EUR", "to": "USD", "amount": "1e10",
                                  "request_id": "b1"}, 400, "invalid_field", "amount"),
    ("POST", "/api/fx/exchange", {"from": "EUR", "to": "USD", "amount": "Infinity",
                                  "request_id": "b2"}, 400, "invalid_field", "amount"),
    ("POST", f"{SAT}/balances/deposit", {"amount": "1e15", "request_id": "b3"}, 400,
     "invalid_field", "amount"),
    ("POST", f"{SAT}/reconcile", {"currency": "EUR", "auto_correct_threshold": 101}, 400,
     "invalid_field", "auto_correct_threshold"),
    ("PUT", f"{SAT}/satellites/core/settings", {"risk_appetite": "1.5"}, 400,
     "invalid_field", "risk_appetite"),
    ("POST", "/api/rebalancing/execute-rebalance",
     {"confirm": "EXECUTE", "available_cash": "-1"}, 400, "invalid_cash", "available_cash"),
    ("POST", "/api/trades/recommendations/dismiss", {"portfolio_hash": "XYZ"}, 400,
     "invalid_field", "portfolio_hash"),
    ("POST", "/api/settings/trading-mode", {"mode": "yolo"}, 400, "invalid_mode", "mode"),
    # nesting and shape
    ("PUT", "/api/allocation/groups/targets/country", {"targets": {"G": {"x": 1}}}, 400,
     "invalid_field", "targets"),
    ("PUT", "/api/allocation/groups/country", {"group_name": "G", "country_names": [1]}, 400,
     "invalid_field", "country_names.0"),
    ("PUT", "/api/planning/config", {"bucket_id": "core", "settings": []}, 400,
     "invalid_field", "settings"),
    ("POST", f"{SAT}/balances/deposit", [1, 2], 400, "invalid_json", None),
    ("POST", f"{SAT}/balances/deposit", "[" * 40 + "]" * 40, 400, "invalid_json", None),
    ("POST", f"{SAT}/balances/deposit", b'{"amount": NaN}', 400, "invalid_json", None),
]


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProbeDaemon]:
    d = start_settled_daemon(tmp_path_factory.mktemp("bodies") / "state")
    yield d
    d.stop()


@pytest.mark.parametrize(("method", "path", "body", "status", "error", "field"), BAD,
                         ids=[f"{m} {p} {e} {f}" for m, p, _, _, e, f in BAD])
def test_a_bad_body_is_a_400_naming_the_field_and_changes_nothing(
        daemon: ProbeDaemon, method: str, path: str, body: Any, status: int, error: str,
        field: str | None) -> None:
    answer = call_unchanged(daemon, method, path, body, status=status)
    assert answer["error"] == error, answer
    assert answer.get("field") == field, answer
    if field is not None:
        assert field.split(".")[0] in answer["message"], answer


def test_the_document_shows_each_struct_as_its_request_schema(daemon: ProbeDaemon) -> None:
    code, doc = Client(daemon).call("GET", "/api/openapi.json", token=None)
    assert code == 200
    for spec in SPECS:
        assert spec.body is not None
        op = doc["paths"][spec.path.replace(":[^}]*", "")][spec.method.lower()]
        schema = op["requestBody"]["content"]["application/json"]["schema"]
        fields = msgspec.structs.fields(spec.body)
        assert schema["additionalProperties"] is False
        assert set(schema["properties"]) == {f.encode_name for f in fields}
        assert set(schema.get("required", [])) == {
            f.encode_name for f in fields if f.required}
        for name, num in decimal_fields(spec.body).items():
            documented = schema["properties"][name]
            documented = documented.get("anyOf", [documented])[0]
            assert documented["format"] == "decimal"
            if num.gt is not None:
                assert Decimal(str(documented["exclusiveMinimum"])) == num.gt
    deposit = doc["paths"][f"{SAT}/balances/deposit"]["post"]["requestBody"]["content"]
    currency = deposit["application/json"]["schema"]["properties"]["currency"]
    assert set(currency["enum"]) == KNOWN_CURRENCIES and currency["default"] == "EUR"


_JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=5)
                     | st.floats(allow_nan=False, allow_infinity=False),
                     lambda inner: st.lists(inner, max_size=3)
                     | st.dictionaries(st.text(max_size=5), inner, max_size=3), max_leaves=8)


@settings(max_examples=300, deadline=None)
@given(kind=st.sampled_from(KINDS), body=st.dictionaries(st.text(max_size=12), _JSON,
                                                        max_size=5))
def test_any_object_is_accepted_whole_or_refused_naming_a_field(kind: type[Body],
                                                                 body: dict[str, Any]) -> None:
    try:
        value = decode(json.dumps(body).encode(), kind)
    except ApiError as exc:
        assert exc.status == 400 and exc.code != "invalid_json"
        field = exc.details["field"]
        declared = {f.encode_name for f in msgspec.structs.fields(kind)}
        assert field in body or field.split(".")[0] in declared, field
        return
    for name, num in decimal_fields(kind).items():
        given_value = getattr(value, name, None)
        if isinstance(given_value, Decimal):
            assert num.problem(given_value) is None


@settings(max_examples=100, deadline=None)
@given(kind=st.sampled_from(KINDS), extra=st.text(min_size=1, max_size=10))
def test_an_unknown_field_is_named(kind: type[Body], extra: str) -> None:
    """Every body refuses a field it does not declare, naming it."""
    names = {f.encode_name for f in msgspec.structs.fields(kind)}
    if extra in names:
        return
    with pytest.raises(ApiError) as caught:  # met before any missing field is counted
        decode(json.dumps({extra: 1}).encode(), kind)
    assert (caught.value.code, caught.value.details["field"]) == ("unknown_field", extra)


@pytest.mark.parametrize(("num", "value", "problem"), [
    (Num(gt=Decimal(0)), Decimal(0), "must be > 0"),
    (Num(ge=Decimal(0), le=Decimal(1)), Decimal("1.01"), "must be <= 1"),
    (Num(places=0), Decimal("5.50"), "must be a whole number"),
    (Num(places=0), Decimal("5.000"), None),
    (Num(places=2), Decimal("0.001"), "must have at most 2 decimal places"),
    (Num(places=0), Decimal("1E+3"), None),
    (Num(), Decimal("NaN"), "must be a finite decimal"),
    (Num(), Decimal("-Infinity"), "must be a finite decimal"),
])
def test_decimal_bounds(num: Num, value: Decimal, problem: str | None) -> None:
    assert num.problem(value) == problem
