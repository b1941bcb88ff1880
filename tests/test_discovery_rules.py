"""Discovery's pure rules: settings parsing, filters, and the monthly decision (property)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from arduino_trader.domain.discovery import (
    Candidate,
    DiscoveryConfigError,
    DiscoveryRules,
    decide,
    exchange_of,
    mean_volume,
    parse_exchanges,
    parse_geographies,
    screen_out,
)

RULES = DiscoveryRules(threshold=0.75, max_per_month=2, manual_review=True,
                       geographies=frozenset({"EU", "US"}), exchanges=("usa", "europe"),
                       min_volume=1_000_000, fetch_limit=50)


def cand(symbol: str, isin: str = "US0378331005", exchange: str | None = "usa",
         country: str | None = None) -> Candidate:
    return Candidate(isin, symbol, symbol, "USD", exchange, "broker", country=country)


def test_settings_lists_parse_and_unknown_names_are_refused_by_key() -> None:
    assert parse_geographies(" eu, US ,asia,") == frozenset({"EU", "US", "ASIA"})
    assert parse_geographies("") == frozenset()
    assert parse_exchanges("europe, USA,europe") == ("europe", "usa")
    with pytest.raises(DiscoveryConfigError, match=r"security_discovery_geographies.*MARS"):
        parse_geographies("EU,mars")
    with pytest.raises(DiscoveryConfigError, match=r"security_discovery_exchanges.*nyse"):
        parse_exchanges("usa,nyse")


def test_region_exchange_and_volume_filters() -> None:
    assert cand("A").region == "US"  # from the ISIN's country
    assert cand("S", "DE0007164600", "europe").region == "EU"
    assert cand("T", country="Japan").region == "ASIA"  # the issuer's country wins
    assert screen_out(cand("A"), RULES) is None
    assert "region ASIA" in (screen_out(cand("T", country="Japan"), RULES) or "")
    assert "listed on kazakhstan" in (screen_out(cand("K", exchange="kazakhstan"), RULES)
                                      or "")
    assert "unscreened venue" in (screen_out(cand("X", exchange=None), RULES) or "")
    assert "volume 999,999 below 1,000,000" in (screen_out(cand("A"), RULES, 999_999.0) or "")
    assert screen_out(cand("A"), RULES, 1_000_000.0) is None
    assert screen_out(cand("A"), RULES, None) is None  # a source without volumes


def test_exchanges_of_broker_markets_and_venues() -> None:
    assert exchange_of(market="FIX") == "usa" and exchange_of(market="eu") == "europe"
    assert exchange_of(mic="XNAS") == "usa" and exchange_of(mic="XETR") == "europe"
    assert exchange_of(mic="XTKS") is None and exchange_of() is None


def test_mean_volume_takes_the_last_twenty_known_sessions() -> None:
    assert mean_volume([None, None]) is None
    assert mean_volume([10.0] * 5 + [2.0] * 20) == 2.0
    assert mean_volume([4.0, None, 6.0]) == 5.0


scored = st.lists(st.tuples(st.sampled_from("ABCDEFGH"), st.floats(0, 1)), max_size=8,
                  unique_by=lambda x: x[0])


@given(scored, st.integers(0, 4), st.integers(0, 6), st.floats(0, 1), st.booleans())
def test_decide_keeps_threshold_cap_and_best_first(
        drawn: list[tuple[str, float]], cap: int, used: int, threshold: float,
        review: bool) -> None:
    rules = DiscoveryRules(threshold, cap, review, frozenset({"US"}), ("usa",), 0, 50)
    decisions = decide([(cand(s), score) for s, score in drawn], rules, used)
    assert len(decisions) == len(drawn)
    taken = [d for d in decisions if d.action in ("add", "propose")]
    assert len(taken) == min(max(0, cap - used), sum(1 for _, s in drawn if s >= threshold))
    assert all(d.action == ("propose" if review else "add") for d in taken)
    assert all(d.score >= threshold for d in taken)
    assert all(d.score < threshold for d in decisions if d.action == "below_threshold")
    over = [d for d in decisions if d.action == "over_cap"]
    assert all(o.score >= threshold for o in over)
    if taken and over:
        assert min(t.score for t in taken) >= max(o.score for o in over)
