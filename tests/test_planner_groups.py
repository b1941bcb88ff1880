"""The planner's input carries the owner's allocation: group maps (unlisted → OTHER),
group targets, each security's priority multiplier and its pending dividend bonus."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from arduino_trader.actors.planner_inputs import InputGatherer
from arduino_trader.adapters.store import allocation_repo, dividend_repo, securities_repo
from arduino_trader.adapters.store.sqlite import SqliteStore
from arduino_trader.config.settings import load_settings
from arduino_trader.daemon.io_loop import IoLoop
from arduino_trader.domain.planner.groups import (
    dividend_bonuses,
    grouped_industry,
    member_to_group,
)
from arduino_trader.protocols.broker import AccountSnapshot, CashBalance

NOW = datetime(2024, 6, 3, 12, 0, tzinfo=UTC)


def test_members_map_to_their_group_and_the_rest_to_other() -> None:
    groups = {"EU": ["Germany", "France"], "US": ["United States"]}
    assert member_to_group(groups, ["Germany", "Japan"]) == {"Germany": "EU", "Japan": "OTHER"}
    assert member_to_group({}, ["Germany"]) == {}  # no groups: raw names stay
    to = {"Software": "Tech", "Semiconductors": "Tech", "Banks": "Finance"}
    assert grouped_industry("Software, Semiconductors,Banks", to) == "Tech,Finance"
    assert grouped_industry("Gold", to) == "OTHER"
    assert grouped_industry("Software", {}) == "Software"


def test_dividend_bonus_is_pending_cash_over_the_position_capped() -> None:
    bonuses = dividend_bonuses({"A": Decimal(10), "B": Decimal(500), "C": Decimal(0)},
                               {"A": 1000.0}, Decimal(250))
    assert bonuses == {"A": 0.01, "B": 0.05}


def test_the_gatherer_reads_groups_targets_multipliers_and_bonuses(
        io: IoLoop, store: SqliteStore) -> None:
    rows = [{"isin": "DE0007164600", "symbol": "SAP.DE", "name": "SAP", "currency": "EUR",
             "country": "Germany", "industry": "Software", "priority_multiplier": 1.5},
            {"isin": "JP3633400001", "symbol": "7203.T", "name": "Toyota", "currency": "EUR",
             "country": "Japan", "industry": "Auto Manufacturers"}]
    securities_repo.insert_securities(store, rows, NOW)
    allocation_repo.set_group(store, "country", "Europe", ["Germany"], NOW)
    allocation_repo.set_group(store, "industry", "Tech", ["Software"], NOW)
    allocation_repo.set_targets(store, "country", {"Europe": Decimal("0.6")}, NOW)
    allocation_repo.set_targets(store, "industry", {"Tech": Decimal("0.4")}, NOW)
    dividend = dividend_repo.create_dividend(store, {
        "symbol": "SAP.DE", "amount": Decimal(5), "currency": "EUR",
        "amount_eur": Decimal(5), "payment_date": "2024-05-20"}, NOW)
    dividend_repo.set_pending_bonus(store, dividend, Decimal(5))
    account = AccountSnapshot((), (CashBalance("EUR", Decimal(1000)),), True)
    gathered = InputGatherer(io, store, None).gather(account, "research",
                                                     load_settings(None, environ={}), NOW)
    inp = gathered.plan_input
    assert inp.country_to_group == {"Germany": "Europe", "Japan": "OTHER"}
    assert inp.country_targets == {"Europe": 0.6} and inp.industry_targets == {"Tech": 0.4}
    by_symbol = {s.symbol: s for s in inp.securities}
    assert by_symbol["SAP.DE"].industry == "Tech"
    assert by_symbol["7203.T"].industry == "OTHER"
    assert by_symbol["SAP.DE"].priority_multiplier == 1.5
    assert by_symbol["7203.T"].priority_multiplier == 1.0
    assert by_symbol["SAP.DE"].dividend_bonus == 0.0125  # 5 EUR / 400 EUR minimum trade
    assert by_symbol["7203.T"].dividend_bonus == 0.0


def test_expected_return_takes_the_assets_multiplier_and_bonus() -> None:
    from arduino_trader.domain.optimizer import OptimizerAsset, expected_returns

    plain = OptimizerAsset("A", 0.06, 0.02, 0.5, 0.0)
    mu = expected_returns([plain])["A"]
    assert expected_returns([OptimizerAsset("A", 0.06, 0.02, 0.5, 0.0,
                                            priority_multiplier=2.0)])["A"] \
        == 2 * mu
    assert expected_returns([OptimizerAsset("A", 0.06, 0.02, 0.5, 0.0,
                                            dividend_bonus=0.05)])["A"] == mu + 0.05
    capped = OptimizerAsset("A", 0.32, 0.02, 0.5, 0.0, dividend_bonus=0.05)  # 0.271 + 0.05
    assert expected_returns([capped])["A"] == 0.30  # the clamp applies after the bonus
