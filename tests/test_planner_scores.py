"""Scores: stored fundamentals reach the scorers, the scores table is
filled by the score_universe job and by every plan, each row explainable."""

from __future__ import annotations

from arduino_trader.adapters.store import market_repo, scores_repo
from arduino_trader.domain.scoring.fundamentals import fundamentals_from_data
from arduino_trader.domain.scoring.scorers import Fundamentals
from arduino_trader.protocols.messages import RunJob
from arduino_trader.protocols.planning import RequestPlan
from tests.test_planner_actor import NOW, Rig, _seed_universe, rig  # noqa: F401 (fixture)

DOC = {
    "fundamentals": {"data": {"values": {
        "trailingPE": 14.0, "forwardPE": 12.0, "profitMargins": 0.25, "debtToEquity": 40.0,
        "currentRatio": 1.8, "dividendYield": 3.1, "fiveYearAvgDividendYield": 2.5,
        "payoutRatio": 0.45, "marketCap": 1e9, "pegRatio": None}}, "as_of": None},
    "analyst": {"data": {"recommendation": "buy", "score": 0.75, "target_price": 60.0,
                         "upside_pct": 20.0, "analysts": 12}, "as_of": None},
}


def test_stored_documents_map_to_the_scorers_units() -> None:
    f = fundamentals_from_data(DOC)
    assert f == Fundamentals(trailing_pe=14.0, forward_pe=12.0, profit_margin=0.25,
                             debt_to_equity=40.0, current_ratio=1.8, dividend_yield=0.031,
                             payout_ratio=0.45, five_year_avg_dividend_yield=0.025,
                             analyst_recommendation=0.75, target_upside=0.2)
    fraction = {"fundamentals": {"data": {"values": {"dividendYield": 0.02}}}}
    only = fundamentals_from_data(fraction)
    assert only is not None and only.dividend_yield == 0.02
    assert fundamentals_from_data({}) is None
    assert fundamentals_from_data({"fundamentals": {"data": {"values": {
        "trailingPE": "n/a", "forwardPE": float("nan"), "payoutRatio": True}}}}) is None


def _scores(r: Rig) -> dict[str, dict[str, object]]:
    return {row["symbol"]: row for row in scores_repo.read_scores(r.store)}


def test_score_universe_job_stores_explained_scores(rig: Rig) -> None:  # noqa: F811
    _seed_universe(rig)
    market_repo.write_security_data(rig.store, "DE0000000000", "fundamentals",
                                                DOC["fundamentals"]["data"], NOW)
    market_repo.write_security_data(rig.store, "DE0000000000", "analyst",
                                                DOC["analyst"]["data"], NOW)
    outcome = rig.bus.ask("planner", RunJob("score_universe", "r1"), 60)
    assert outcome.ok and outcome.details["scored"] == 3, outcome
    rows = _scores(rig)
    assert set(rows) == {"S0.DE", "S1.DE", "S2.DE"}
    assert all(r["source"] == "job" and r["calculated_at"] for r in rows.values())
    groups = rows["S0.DE"]["group_scores"]
    assert isinstance(groups, dict) and groups["fundamentals"] != 0.5
    assert rows["S1.DE"]["group_scores"]["opinion"] == 0.5  # type: ignore[index]
    assert groups["opinion"] > 0.5  # analyst buy, 20 % upside
    one = scores_repo.read_score(rig.store, "DE0000000000")
    assert one is not None and one["total_score"] == rows["S0.DE"]["total_score"]
    comps = one["breakdown"]["groups"]["fundamentals"]["components"]
    assert set(comps) and all("score" in c and "weight" in c for c in comps.values())
    assert scores_repo.read_score(rig.store, "XX0000000000") is None


def test_every_plan_refreshes_the_scores(rig: Rig) -> None:  # noqa: F811
    _seed_universe(rig)
    summary = rig.bus.ask("planner", RequestPlan("test"), 60)
    assert summary.ok, summary
    rows = _scores(rig)
    assert set(rows) == {"S0.DE", "S1.DE", "S2.DE"}
    assert {r["source"] for r in rows.values()} == {"plan"}


def test_scoring_an_empty_universe_is_an_answer(rig: Rig) -> None:  # noqa: F811
    outcome = rig.bus.ask("planner", RunJob("score_universe", "r1"), 60)
    assert outcome.ok and "no security" in outcome.summary
    assert _scores(rig) == {}
