"""Generation filters: diverse candidate selection, the diversity filter, the correlation
filter, and the adaptive and regime-dependent patterns."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from arduino_trader.domain.planner.evaluation import R_FEASIBLE, evaluate
from arduino_trader.domain.planner.filters import (
    buys_conflict,
    cluster_key,
    correlation_conflicts,
    diverse_select,
    diversity_scores,
)
from arduino_trader.domain.planner.generation import (
    GenerationOptions,
    combinatorial_sequences,
    generate,
    pattern_sequences,
)
from arduino_trader.domain.planner.models import Candidate, Category
from arduino_trader.domain.planner.montecarlo import correlation
from arduino_trader.domain.planner.search import beam_search
from tests.test_planner_evaluation import random_case

COUNTRIES = ("EU", "US", "ASIA")


def _cand(i: int, side: str, priority: float, category: Category = "weight_based",
          value: float = 100.0) -> Candidate:
    return Candidate(i, f"S{i}", "BUY" if side == "BUY" else "SELL", 1, value, value, "EUR",
                     category, priority, "r", 0.5, 0.5)


# --- diverse selection -------------------------------------------------------------------

def test_diverse_selection_reaches_a_low_priority_cluster() -> None:
    cands = [_cand(i, "BUY", 0.9 - 0.01 * i) for i in range(6)] + [_cand(6, "BUY", 0.2)]
    cluster = {c.symbol: "country:US" for c in cands} | {"S6": "country:EU"}
    picked = diverse_select(cands, 3, lambda c: cluster[c.symbol], 0.3)
    assert len(picked) == 3 and "S6" in {c.symbol for c in picked}
    # Without diversity the same three would be the top three by priority.
    by_priority = sorted(cands, key=lambda c: -c.priority)[:3]
    assert "S6" not in {c.symbol for c in by_priority}


def test_diverse_selection_ranks_lone_clusters_up() -> None:
    cands = [_cand(0, "BUY", 0.50), _cand(1, "BUY", 0.49), _cand(2, "BUY", 0.45)]
    cluster = {"S0": "a", "S1": "a", "S2": "b"}
    picked = diverse_select(cands, 3, lambda c: cluster[c.symbol], 0.3)
    # S2 alone in its cluster: 0.7·0.45 + 0.3 > 0.7·0.50 + 0.3/1.5.
    assert [c.symbol for c in picked] == ["S2", "S0", "S1"]
    plain = diverse_select(cands, 3, lambda c: cluster[c.symbol], 0.0)
    assert [c.symbol for c in plain] == ["S0", "S1", "S2"]


def test_cluster_key_falls_back_to_industry_then_prefix() -> None:
    assert cluster_key("AAPL.US", "US", ["Tech"]) == "country:US"
    assert cluster_key("AAPL.US", None, ["Tech", "Hardware"]) == "industry:Tech"
    assert cluster_key("AAPL.US", None, []) == "prefix:AAP"


@settings(max_examples=60, deadline=None)
@given(prios=st.lists(st.floats(0.0, 1.0), min_size=0, max_size=25),
       clusters=st.lists(st.integers(0, 5), min_size=25, max_size=25),
       n=st.integers(0, 12), weight=st.floats(0.0, 1.0))
def test_diverse_selection_invariants(prios: list[float], clusters: list[int], n: int,
                                      weight: float) -> None:
    cands = [_cand(i, "BUY", p) for i, p in enumerate(prios)]
    key = {c.symbol: f"c{clusters[c.index]}" for c in cands}
    picked = diverse_select(cands, n, lambda c: key[c.symbol], weight)
    symbols = [c.symbol for c in picked]
    assert len(symbols) == len(set(symbols)) == min(n, len(cands))
    assert set(symbols) <= {c.symbol for c in cands}
    present = {key[c.symbol] for c in cands}
    if cands and len(present) <= n:  # room for one per cluster: every cluster is represented
        assert {key[s] for s in symbols} == present


# --- diversity filter --------------------------------------------------------------------

def _plain_diversity(seq: list[int], pool: list[Candidate], country: list[int],
                     weight: float) -> float:
    n = len(seq)
    mean_p = sum(pool[i].priority for i in seq) / n
    unique = len({pool[i].index for i in seq}) / n
    groups: dict[object, int] = {}
    for i in seq:
        g: object = country[pool[i].index] if country[pool[i].index] >= 0 else ("own", i)
        groups[g] = groups.get(g, 0) + 1
    tags = len({pool[i].category for i in seq}) / min(n, 5)
    div = 0.4 * unique + 0.3 * (1 - max(groups.values()) / n) + 0.3 * min(1.0, tags)
    return (1 - weight) * mean_p + weight * div


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), weight=st.floats(0.0, 1.0))
def test_diversity_scores_match_a_plain_implementation(seed: int, weight: float) -> None:
    rng = np.random.default_rng(seed)
    cats: list[Category] = ["weight_based", "opportunity_buys", "rebalance_buys"]
    pool = [_cand(i, "BUY", float(rng.random()), cats[int(rng.integers(0, 3))])
            for i in range(8)]
    country = [int(c) for c in rng.integers(-1, 3, 8)]
    seqs = [list(rng.choice(8, size=int(rng.integers(1, 6)), replace=False))
            for _ in range(20)]
    depth = 5
    padded = np.full((len(seqs), depth), -1, dtype=np.int64)
    for r, s in enumerate(seqs):
        padded[r, : len(s)] = s
    got = diversity_scores(padded, np.array([len(s) for s in seqs], dtype=np.int64),
                           np.array([c.priority for c in pool]),
                           np.arange(8, dtype=np.int64), np.array(country, dtype=np.int64),
                           np.array([cats.index(c.category) for c in pool], dtype=np.int64),
                           weight)
    want = [_plain_diversity(s, pool, country, weight) for s in seqs]
    np.testing.assert_allclose(got, want, atol=1e-12)


def test_diversity_filter_prefers_sequences_across_countries() -> None:
    # Six buys of equal priority: three in EU, three in US. Keeping 9 of the 21 sequences
    # of depth ≤ 2, the priority ranking keeps the enumeration order (6 singles, then the
    # first pairs: two of them in one country); the diversity filter keeps only
    # cross-country pairs (a same-country pair scores 0.4 + 0 + 0.15, a cross pair
    # 0.4 + 0.15 + 0.15).
    pool = [_cand(i, "BUY", 0.8) for i in range(6)]
    country = ["EU", "EU", "EU", "US", "US", "US"]
    opts = GenerationOptions(country_group=country, diversity_filter=True,
                             diversity_weight=0.3)
    plain = combinatorial_sequences(pool, 2, 6, 0.3, 9)
    diverse = combinatorial_sequences(pool, 2, 6, 0.3, 9, opts)

    def pairs(seqs: list[tuple[int, ...]]) -> list[bool]:
        return [len({country[pool[i].index] for i in s}) == 2 for s in seqs if len(s) == 2]

    assert len(pairs(diverse)) >= 3 and all(pairs(diverse))
    assert pairs(plain).count(False) == 2


# --- correlation filter ------------------------------------------------------------------

def test_correlation_conflicts_from_returns() -> None:
    rng = np.random.default_rng(1)
    common = rng.normal(0, 0.01, 300)
    returns = np.vstack([common + rng.normal(0, 0.001, 300),
                         common + rng.normal(0, 0.001, 300),
                         rng.normal(0, 0.01, 300)])
    subset = np.array([1, 3, 4], dtype=np.int64)
    conflict = correlation_conflicts(6, subset, correlation(returns, shrink=0.0), 0.7)
    assert conflict[1, 3] and conflict[3, 1]
    assert not conflict[1, 4] and not conflict[3, 4] and not conflict.diagonal().any()
    assert conflict.sum() == 2
    assert buys_conflict([1, 3], conflict) and not buys_conflict([1, 4], conflict)
    assert not buys_conflict([1, 3], None)


def _conflicting_pool(seed: int) -> tuple[list[Candidate], np.ndarray]:
    rng = np.random.default_rng(seed)
    pool = [_cand(i, "SELL", float(rng.uniform(0.3, 1)), "profit_taking") for i in range(3)]
    pool += [_cand(i, "BUY", float(rng.uniform(0.3, 1)), "opportunity_buys")
             for i in range(3, 12)]
    conflict = np.zeros((12, 12), dtype=bool)
    for _ in range(10):
        a, b = (int(x) for x in rng.choice(np.arange(3, 12), 2, replace=False))
        conflict[a, b] = conflict[b, a] = True
    return pool, conflict


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), depth=st.integers(1, 5))
def test_no_generated_sequence_buys_a_correlated_pair(seed: int, depth: int) -> None:
    pool, conflict = _conflicting_pool(seed)
    groups = {"profit_taking": [0, 1, 2], "opportunity_buys": list(range(3, 12))}
    opts = GenerationOptions(country_group=[""] * 12, conflict=conflict)
    stats: dict[str, int] = {}
    seqs, _ = generate(groups, pool, depth, 10_000.0, 10, 0.3, 500, opts, stats)
    assert seqs
    for s in seqs:
        buys = [pool[i].index for i in s if pool[i].side == "BUY"]
        assert not conflict[np.ix_(buys, buys)].any()
    unfiltered, _ = generate(groups, pool, depth, 10_000.0, 10, 0.3, 500)
    assert len(unfiltered) >= len(seqs)
    assert stats["correlation_dropped_patterns"] >= 0


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 1000))
def test_beam_search_respects_the_correlation_filter(seed: int) -> None:
    ctx, _, mult = random_case(seed, n=8, n_seq=1, paths=4, cash=4000.0)
    pool = [Candidate(i, f"S{i}", "BUY", 1, 1.0, float(ctx.price_eur[i]), "EUR",
                      "weight_based", 0.5, "r", 0.6, 0.6) for i in range(8)]
    conflict = np.zeros((8, 8), dtype=bool)
    conflict[0, 1:] = conflict[1:, 0] = True  # S0 conflicts with everything

    def score(b: object) -> np.ndarray:
        return evaluate(ctx, b, mult)  # type: ignore[arg-type]

    seqs, rows = beam_search(pool, score, 4, 3, -1.0, conflict)
    assert rows.shape[0] == len(seqs)
    for s in seqs:
        assert len(s) == 1 or 0 not in s
    assert (rows[:, R_FEASIBLE] >= 0).all()


# --- adaptive and regime patterns --------------------------------------------------------

def _category_pool() -> tuple[list[Candidate], dict[str, list[int]], list[str]]:
    pool = [
        _cand(0, "SELL", 0.9, "profit_taking"), _cand(1, "SELL", 0.8, "profit_taking"),
        _cand(2, "SELL", 0.7, "profit_taking"), _cand(3, "SELL", 0.6, "rebalance_sells"),
        _cand(4, "BUY", 0.9, "averaging_down"), _cand(5, "BUY", 0.8, "opportunity_buys"),
        _cand(6, "BUY", 0.7, "rebalance_buys"), _cand(7, "BUY", 0.6, "weight_based"),
        _cand(8, "BUY", 0.5, "weight_based"),
    ]
    groups = {"profit_taking": [0, 1, 2], "rebalance_sells": [3], "averaging_down": [4],
              "opportunity_buys": [5], "rebalance_buys": [6], "weight_based_buys": [7, 8]}
    country = ["EU", "EU", "US", "US", "EU", "US", "ASIA", "EU", "ASIA"]
    return pool, groups, country


def test_adaptive_patterns_buy_into_the_groups_below_target() -> None:
    pool, groups, country = _category_pool()
    inds = [("Tech",), ("Tech",), ("Energy",), ("Energy",), ("Tech",), ("Tech",),
            ("Energy",), ("Banks",), ("Banks",)]
    opts = GenerationOptions(country_group=country, industries=inds,
                             country_gaps={"ASIA": 0.10, "US": 0.03, "EU": -0.13},
                             industry_gaps={"Banks": 0.05, "Tech": 0.005})
    out = dict(pattern_sequences(groups, pool, 3, 10_000.0, opts))
    assert set(out["adaptive_country:ASIA"]) == {6, 8}
    assert out["adaptive_country:US"] == (5,)
    assert "adaptive_country:EU" not in out  # above target
    assert set(out["adaptive_industry:Banks"]) == {7, 8}
    assert "adaptive_industry:Tech" not in out  # gap 0.5 % ≤ 1 %
    mix = out["adaptive_mix"]
    assert len({country[pool[i].index] for i in mix if country[pool[i].index] != "EU"}) >= 2
    # averaging-down buys are not adaptive candidates
    assert all(4 not in seq for name, seq in out.items() if name.startswith("adaptive"))


def test_the_regime_selects_its_pattern() -> None:
    pool, groups, country = _category_pool()

    def names(regime: str, on: bool = True, depth: int = 4) -> dict[str, tuple[int, ...]]:
        opts = GenerationOptions(country_group=country, regime=regime, regime_patterns=on)
        return dict(pattern_sequences(groups, pool, depth, 0.0, opts))

    bull = names("bull")
    assert "regime_bull" in bull and "regime_bear" not in bull
    assert bull["regime_bull"][:2] == (0, 1)  # top-2 profit takes first
    assert all(pool[i].category != "averaging_down" for i in bull["regime_bull"])
    bear = names("bear")
    seq = bear["regime_bear"]
    sells = [i for i in seq if pool[i].side == "SELL"]
    assert len(sells) <= 4 // 2
    assert all(pool[i].category == "averaging_down" for i in seq if pool[i].side == "BUY")
    side = names("sideways")
    assert side["regime_sideways"][0] == 3  # the rebalance sell leads
    assert not any(k.startswith("regime") for k in names("bull", on=False))


@settings(max_examples=25, deadline=None)
@given(regime=st.sampled_from(["bull", "bear", "sideways"]), depth=st.integers(1, 5),
       cash=st.floats(0.0, 2000.0), gaps=st.lists(st.floats(-0.2, 0.2), min_size=3,
                                                   max_size=3))
def test_extra_patterns_stay_valid(regime: str, depth: int, cash: float,
                                   gaps: list[float]) -> None:
    pool, groups, country = _category_pool()
    opts = GenerationOptions(country_group=country, regime=regime, regime_patterns=True,
                             country_gaps=dict(zip(COUNTRIES, gaps, strict=True)))
    for _name, seq in pattern_sequences(groups, pool, depth, cash, opts):
        assert 0 < len(seq) <= depth
        symbols = [pool[i].symbol for i in seq]
        assert len(set(symbols)) == len(symbols)
        sides = [pool[i].side for i in seq]
        assert sides == sorted(sides, key=lambda s: s != "SELL")
        spent = sum(pool[i].value_eur for i in seq if pool[i].side == "BUY")
        raised = sum(pool[i].value_eur for i in seq if pool[i].side == "SELL")
        assert spent <= cash + raised + 1e-9


# --- in a whole plan -----------------------------------------------------------------------

def test_the_regime_score_changes_the_generated_patterns() -> None:
    import dataclasses

    from arduino_trader.domain.planner.plan import _generate_and_scenarios
    from arduino_trader.domain.planner.prepare import prepare
    from tests.test_planner_plan import synthetic

    seen = {}
    for score, label in ((0.8, "regime_bull"), (0.0, "regime_sideways"),
                         (-0.8, "regime_bear")):
        inp = dataclasses.replace(synthetic(cash=20_000.0), regime_score=score)
        prep = prepare(inp, {})
        assert not isinstance(prep, str)
        counts = _generate_and_scenarios(prep, inp, {}).counts
        regime_labels = {k for k in counts if k.startswith("regime_")}
        assert regime_labels <= {label}
        seen[label] = counts.get(label, 0)
        off = dataclasses.replace(inp, settings=dataclasses.replace(
            inp.settings, enable_market_regime_scenarios=False))
        assert not any(k.startswith("regime_") for k in
                       _generate_and_scenarios(prep, off, {}).counts)
    assert seen["regime_bull"] > 0 and seen["regime_sideways"] > 0


@pytest.mark.parametrize("threshold", [0.4, 0.55, 0.7])
def test_a_plan_never_buys_two_correlated_securities(threshold: float) -> None:
    """On the bundled real closes (oil majors, banks, staples move together) the buys of a
    plan are never correlated beyond the threshold, and the filter does prune."""
    import dataclasses

    from arduino_trader.domain.planner.plan import plan
    from arduino_trader.domain.scoring.kernels import daily_returns
    from tests.bundled_plan import bundled_input

    base = bundled_input(60_000.0)
    inp = dataclasses.replace(base, settings=dataclasses.replace(
        base.settings, correlation_threshold=threshold))
    r = plan(inp)
    assert r.status == "plan", r.reason
    symbols = [s.symbol for s in r.steps if s.side == "BUY"]
    assert len(symbols) >= 2
    index = {sec.symbol: i for i, sec in enumerate(inp.securities)}

    def max_corr(names: list[str]) -> float:
        rows = np.array([index[s] for s in names], dtype=np.int64)
        corr = correlation(daily_returns(np.ascontiguousarray(inp.prices[rows])), shrink=0.0)
        np.fill_diagonal(corr, 0.0)
        return float(np.abs(corr).max())

    assert max_corr(symbols) <= threshold + 1e-12
    if threshold == 0.4:  # without the filter this day's best plan buys a correlated pair
        off = dataclasses.replace(inp, settings=dataclasses.replace(
            inp.settings, enable_correlation_aware=False))
        assert max_corr([s.symbol for s in plan(off).steps if s.side == "BUY"]) > 0.4


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 10_000), cash=st.floats(0.0, 6000.0))
def test_the_early_cash_walk_leaves_only_feasible_combinations(seed: int, cash: float) -> None:
    """Early feasibility: with the spendable cash and the costs, every combination
    the generator keeps passes the kernel's cash walk (sells first, costs paid)."""
    from dataclasses import replace

    from arduino_trader.domain.planner.generation import encode

    ctx, _, mult = random_case(seed, n=10, n_seq=1, paths=3, cash=cash)
    ctx = replace(ctx, reserve_eur=min(200.0, cash))
    rng = np.random.default_rng(seed)
    pool: list[Candidate] = []
    for i in range(10):
        if ctx.hold_qty[i] > 0:
            q = int(rng.integers(1, int(ctx.hold_qty[i]) + 1))
            pool.append(Candidate(i, f"S{i}", "SELL", q, 1.0, float(ctx.price_eur[i]), "EUR",
                                  "weight_based", 0.5, "r", 0.5, 0.5))
        else:
            pool.append(Candidate(i, f"S{i}", "BUY", int(rng.integers(1, 15)), 1.0,
                                  float(ctx.price_eur[i]), "EUR", "weight_based", 0.6, "r",
                                  0.6, 0.6))
    opts = GenerationOptions(cash=max(0.0, cash - ctx.reserve_eur), cost_fixed=ctx.cost_fixed,
                             cost_pct=ctx.cost_pct)
    kept = combinatorial_sequences(pool, 5, 10, 0.0, 100_000, opts)
    everything = combinatorial_sequences(pool, 5, 10, 0.0, 100_000)
    assert set(kept) <= set(everything)
    if kept:
        rows = evaluate(ctx, encode(kept, pool, 5), mult)
        assert (rows[:, R_FEASIBLE] > 0).all()
    dropped = sorted(set(everything) - set(kept))
    if dropped:
        rows = evaluate(ctx, encode(dropped, pool, 5), mult)
        assert not (rows[:, R_FEASIBLE] > 0).any()
