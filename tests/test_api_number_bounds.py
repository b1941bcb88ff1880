"""Numbers the admin API turns into values, on a running daemon: one that is too large, too
small or too long (``"1e-99999999"`` is 11 bytes but 100 MB written out), a repeated JSON
key, an out-of-range path id or a setting just above its maximum is a 400 (or a 404) that
names the field and writes nothing; negative zero is stored as zero."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from daemon_harness import Client, ProbeDaemon
from reliability_support import call_unchanged, count, db_path, start_settled_daemon

# The daemon lives for the module: the conftest stops no actor after each test.
DAEMON_FOR_THE_MODULE = True

SAT = "/api/satellites"
TARGETS = "/api/allocation/groups/targets/country"
DIVIDEND = {"symbol": "KO.US", "isin": "US1912161007", "amount": "6", "currency": "EUR",
            "payment_date": "2026-03-02"}
HUGE_INT = "1" + "0" * 400  # a JSON integer no float holds
OUT_OF_RANGE = ["1e-99999999", "-1e-99999999", "1e-999999999999999999", "1e99999999",
                "0e-99999999", "0." + "1" * 31, 1e-13]


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProbeDaemon]:
    d = start_settled_daemon(tmp_path_factory.mktemp("bounds") / "state")
    try:
        api = Client(d)
        assert api.call("PUT", "/api/allocation/groups/country",
                        {"group_name": "EU", "country_names": ["Germany"]})[0] == 200
        assert api.call("PUT", TARGETS, {"targets": {"EU": "0.5"}})[0] == 200
        yield d
    finally:
        d.stop()


def _target(daemon: ProbeDaemon) -> str:
    rows = daemon.store.fetch_all("SELECT target_pct FROM allocation_targets "
                                  "WHERE name = 'EU'", ())
    return str(rows[0][0])


def _override(daemon: ProbeDaemon, key: str) -> str | None:
    rows = daemon.store.fetch_all("SELECT value FROM settings_overrides WHERE key = ?", (key,))
    return str(rows[0][0]) if rows else None


@pytest.mark.parametrize("value", OUT_OF_RANGE)
def test_a_target_in_the_map_out_of_range_is_refused_naming_it(daemon: ProbeDaemon,
                                                                value: Any) -> None:
    answer = call_unchanged(daemon, "PUT", TARGETS, {"targets": {"EU": value}})
    assert (answer["error"], answer["field"]) == ("invalid_field", "targets.EU"), answer
    assert "targets.EU" in answer["message"]
    assert _target(daemon) == "0.5"


def test_a_json_number_with_a_huge_exponent_is_refused(daemon: ProbeDaemon) -> None:
    answer = call_unchanged(daemon, "PUT", TARGETS, b'{"targets": {"EU": 1e-99999999}}')
    assert answer["field"] == "targets.EU", answer
    assert _target(daemon) == "0.5"


@pytest.mark.parametrize("value", ["1e-99999999", "0e-99999999", "0." + "1" * 31])
def test_a_decimal_setting_out_of_range_is_refused(daemon: ProbeDaemon, value: str) -> None:
    before = _override(daemon, "min_cash_reserve")
    answer = call_unchanged(daemon, "PUT", "/api/settings/min_cash_reserve", {"value": value})
    assert answer["error"] in ("invalid_setting", "invalid_field"), answer
    assert "min_cash_reserve" in answer["message"] or answer.get("field") == "value"
    assert _override(daemon, "min_cash_reserve") == before


def test_a_decimal_setting_just_above_its_maximum_is_refused(daemon: ProbeDaemon) -> None:
    before = _override(daemon, "min_cash_reserve")
    answer = call_unchanged(daemon, "PUT", "/api/settings/min_cash_reserve",
                      {"value": "10000000.0000000001"})
    assert answer["error"] == "invalid_setting", answer
    assert _override(daemon, "min_cash_reserve") == before


@pytest.mark.parametrize("raw", [b'{"value": 1e999}', b'{"value": %s}' % HUGE_INT.encode()])
def test_a_huge_number_for_an_int_setting_is_a_400_not_a_500(daemon: ProbeDaemon,
                                                             raw: bytes) -> None:
    before = _override(daemon, "min_hold_days")
    call_unchanged(daemon, "PUT", "/api/settings/min_hold_days", raw)
    assert _override(daemon, "min_hold_days") == before


def test_a_negative_zero_setting_is_stored_as_zero(daemon: ProbeDaemon) -> None:
    code, answer = Client(daemon).call("PUT", "/api/settings/virtual_test_cash",
                                       {"value": "-0"})
    assert (code, answer) == (200, {"virtual_test_cash": "0"})
    assert _override(daemon, "virtual_test_cash") in ("0", '"0"')


def test_a_negative_zero_budget_is_stored_as_zero(daemon: ProbeDaemon) -> None:
    code, answer = Client(daemon).call("PUT", f"{SAT}/settings/satellite-budget?budget_pct=-0")
    assert (code, answer["satellite_budget_pct"]) == (200, "0"), answer
    stored = daemon.store.fetch_all("SELECT value FROM allocation_settings "
                                    "WHERE key = 'satellite_budget_pct'", ())
    assert str(stored[0][0]) == "0"


@pytest.mark.parametrize("field", ["amount", "amount_eur"])
def test_a_dividend_with_a_huge_amount_is_refused(daemon: ProbeDaemon, field: str) -> None:
    body = {**DIVIDEND, "currency": "USD", "amount": "6", "amount_eur": "5", field: "1e99999999"}
    answer = call_unchanged(daemon, "POST", "/api/dividends", body)
    assert answer["field"] == field, answer
    assert count(db_path(daemon), "SELECT COUNT(*) FROM dividend_history") == 0


@pytest.mark.parametrize(("action", "body"), [("pending-bonus", {"amount": "1"}),
                                              ("mark-reinvested", {"quantity": "1"})])
@pytest.mark.parametrize("dividend_id", ["99999999999999999999999", str(2**63)])
def test_a_dividend_id_beyond_any_row_is_a_404(daemon: ProbeDaemon, action: str,
                                               body: dict[str, str], dividend_id: str) -> None:
    answer = call_unchanged(daemon, "POST", f"/api/dividends/{dividend_id}/{action}", body,
                            status=404)
    assert answer["error"] == "unknown_dividend", answer


def test_a_reconcile_balance_with_a_huge_exponent_is_refused(daemon: ProbeDaemon) -> None:
    answer = call_unchanged(daemon, "POST", f"{SAT}/reconcile",
                      {"currency": "EUR", "actual_balance": "1e-99999999"})
    assert answer["field"] == "actual_balance", answer


def test_a_repeated_key_is_refused_naming_it(daemon: ProbeDaemon) -> None:
    raw = b'{"amount": "5", "amount": "50000", "request_id": "dup-keys"}'
    answer = call_unchanged(daemon, "POST", f"{SAT}/balances/deposit", raw)
    assert (answer["error"], answer["field"]) == ("duplicate_field", "amount"), answer
    assert "amount" in answer["message"]
    assert count(db_path(daemon), "SELECT COUNT(*) FROM bucket_transactions "
                 "WHERE source_id = 'dup-keys'") == 0


def test_a_repeated_key_in_a_nested_map_is_refused(daemon: ProbeDaemon) -> None:
    """A key repeated inside the targets map is refused; numbers within the size rule, at
    its edges too, are still accepted."""
    answer = call_unchanged(daemon, "PUT", TARGETS, b'{"targets": {"EU": "0.1", "EU": "0.9"}}')
    assert (answer["error"], answer["field"]) == ("duplicate_field", "EU"), answer
    assert _target(daemon) == "0.5"
    api = Client(daemon)
    for value in ("0.000000000001", "0." + "1" * 30, 0.5):
        assert api.call("PUT", TARGETS, {"targets": {"EU": value}})[0] == 200, value
    assert _target(daemon) == "0.5"
