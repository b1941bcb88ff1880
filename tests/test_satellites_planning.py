"""Per-bucket planning scopes and the daily maintenance sweep."""

from __future__ import annotations

from arduino_trader.domain.satellites import drawdown
from arduino_trader.domain.satellites.planning import bucket_of_tag, plan_scopes
from arduino_trader.protocols.satellite_records import SatelliteSettings
from tests.satellites_helpers import T0, core, d, satellite

RATES = {"EUR": d("1"), "USD": d("0.9")}


def test_scopes_pick_universe_cash_parameters_and_aggression() -> None:
    buckets = {"core": core("0.85"), "mom": satellite("mom"),
               "idle": satellite("idle"), "cold": satellite("cold", "hibernating"),
               "empty": satellite("empty"), "fx": satellite("fx")}
    securities = {"VWCE": "core", "NVDA": "mom", "TSLA": "mom", "KO": "idle", "SAP": "cold",
                  "HSBC": "fx"}
    cash = {"core": {"EUR": d("100"), "USD": d("100")}, "mom": {"USD": d("50")},
            "fx": {"HKD": d("10")}}
    settings = {"mom": SatelliteSettings("mom", risk_appetite=d("1"))}
    scopes, skipped = plan_scopes(buckets, securities, cash, RATES.__getitem__, settings,
                                  {"mom": d("0.25"), "fx": d("1")})
    by_id = {s.bucket_id: s for s in scopes}
    assert list(by_id) == ["core", "mom"]
    assert by_id["core"].cash_eur == d("190") and by_id["core"].parameters is None
    assert by_id["core"].buy_scale == 1 and by_id["core"].symbols == {"VWCE"}
    mom = by_id["mom"]
    assert mom.symbols == {"NVDA", "TSLA"} and mom.cash_eur == d("45")
    assert mom.parameters is not None and mom.parameters.position_size_max == d("0.40")
    assert mom.buy_scale == d("0.25")
    assert mom.tag == "bucket:mom" and mom.reason("buy NVDA") == "[mom] buy NVDA"
    reasons = {s.bucket_id: s.reason for s in skipped}
    assert reasons["idle"] == "aggression 0" and reasons["cold"] == "status hibernating"
    assert reasons["empty"] == "no securities" and reasons["fx"].startswith("no FX rate")
    assert bucket_of_tag("bucket:mom") == "mom" and bucket_of_tag("emergency") is None


def test_maintenance_sweep_continues_past_a_bucket_without_value() -> None:
    buckets = {"core": core(), "a": satellite("a", hwm="1000"), "b": satellite("b"),
               "r": satellite("r", "retired", target="0")}
    results, errors = drawdown.maintain_all(buckets, {"core": d("5"), "a": d("600"),
                                                      "r": d("1")}, T0)
    assert set(results) == {"core", "a"} and errors == {"b": errors["b"]}
    assert results["a"].bucket.status == "hibernating"
