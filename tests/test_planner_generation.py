"""Sequence generation, encoding, Monte-Carlo scenarios and the beam search."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from arduino_trader.domain.planner.evaluation import R_FEASIBLE, R_SCORE, evaluate
from arduino_trader.domain.planner.generation import (
    combinatorial_sequences,
    encode,
    generate,
)
from arduino_trader.domain.planner.models import Candidate
from arduino_trader.domain.planner.montecarlo import correlation, scenario_multipliers
from arduino_trader.domain.planner.search import beam_search
from tests.test_planner_evaluation import random_case


def _pool(n_sell: int, n_buy: int, seed: int = 0) -> list[Candidate]:
    rng = np.random.default_rng(seed)
    pool = []
    for i in range(n_sell):
        pool.append(Candidate(i, f"S{i}", "SELL", 2, 10.0, 10.0, "EUR", "profit_taking",
                              float(rng.uniform(0.3, 1)), "r", 0.5, 0.5))
    for j in range(n_buy):
        i = n_sell + j
        pool.append(Candidate(i, f"S{i}", "BUY", 3, 20.0, 20.0, "EUR", "opportunity_buys",
                              float(rng.uniform(0.3, 1)), "r", 0.6, 0.7))
    return pool


def _check(seq: tuple[int, ...], pool: list[Candidate], depth: int) -> None:
    assert 0 < len(seq) <= depth
    symbols = [pool[i].symbol for i in seq]
    assert len(set(symbols)) == len(symbols)
    sides = [pool[i].side for i in seq]
    assert sides == sorted(sides, key=lambda s: s != "SELL")


@settings(max_examples=30, deadline=None)
@given(n_sell=st.integers(0, 8), n_buy=st.integers(0, 10), depth=st.integers(1, 5),
       limit=st.integers(1, 500))
def test_generated_sequences_are_valid(n_sell: int, n_buy: int, depth: int, limit: int) -> None:
    pool = _pool(n_sell, n_buy)
    groups = {"profit_taking": list(range(n_sell)),
              "opportunity_buys": list(range(n_sell, n_sell + n_buy))}
    seqs, labels = generate(groups, pool, depth, 100.0, 6, 0.3, limit)
    assert len(seqs) == len(labels)
    keys = [tuple((pool[i].symbol, pool[i].side) for i in s) for s in seqs]
    assert len(keys) == len(set(keys))
    for s in seqs:
        _check(s, pool, depth)
    assert len(combinatorial_sequences(pool, depth, 6, 0.3, limit)) <= limit


def test_encode_round_trip() -> None:
    pool = _pool(2, 3)
    batch = encode([(0, 3), (), (1, 2, 4)], pool, 5)
    assert batch.length.tolist() == [2, 0, 3]
    assert batch.sec[2].tolist() == [1, 2, 4, -1, -1]
    assert batch.side[0, :2].tolist() == [-1, 1]
    assert batch.qty[0, :2].tolist() == [2.0, 3.0]


def test_scenarios_fixed_seed_and_correlation() -> None:
    rng = np.random.default_rng(0)
    common = rng.normal(0, 0.01, 300)
    returns = np.vstack([common + rng.normal(0, 0.002, 300) for _ in range(3)]
                        + [rng.normal(0, 0.01, 300)])
    subset = np.array([0, 1, 2, 3], dtype=np.int64)
    mu, sigma = np.full(5, 0.05), np.full(5, 0.2)
    full = np.vstack([returns, np.zeros(300)])
    a = scenario_multipliers(5, subset, mu, sigma, full, 2000, 63, 42)
    b = scenario_multipliers(5, subset, mu, sigma, full, 2000, 63, 42)
    np.testing.assert_array_equal(a, b)
    assert (a[:, 4] == 1.0).all()  # not in the subset: never re-priced
    logs = np.log(a[:, :4])
    c = np.corrcoef(logs, rowvar=False)
    assert c[0, 1] > 0.7 and abs(c[0, 3]) < 0.15
    assert abs(np.std(logs[:, 0]) - 0.2 * np.sqrt(63 / 252)) < 0.01
    assert np.allclose(np.diag(correlation(returns)), 1.0)


def test_beam_search_finds_the_exhaustive_best_on_small_pools() -> None:
    ctx, _, mult = random_case(5, n=8, n_seq=1, paths=8, cash=3000.0)
    pool = []
    for i in range(8):
        if ctx.hold_qty[i] > 0:
            pool.append(Candidate(i, f"S{i}", "SELL", 1, 1.0, ctx.price_eur[i], "EUR",
                                  "weight_based", 0.5, "r", 0.5, 0.5))
        pool.append(Candidate(i, f"S{i}", "BUY", 2, 1.0, ctx.price_eur[i], "EUR",
                              "weight_based", 0.6, "r", 0.6, 0.6))
    pool = [c for c in pool if not (c.side == "BUY" and ctx.hold_qty[c.index] > 0)]

    def score(b: object) -> np.ndarray:
        return evaluate(ctx, b, mult)  # type: ignore[arg-type]

    seqs, rows = beam_search(pool, score, width=len(pool) ** 2, max_depth=2,
                             min_improvement=-1.0)
    # With a beam wider than the level, beam search is exhaustive up to depth 2.
    all_pairs = [(i,) for i in range(len(pool))] + [
        (i, j) for i in range(len(pool)) for j in range(len(pool))
        if pool[i].symbol != pool[j].symbol and not (pool[i].side == "BUY"
                                                     and pool[j].side == "SELL")]
    exhaustive = evaluate(ctx, encode(all_pairs, pool, 2), mult)
    best_ex = exhaustive[exhaustive[:, R_FEASIBLE] > 0, R_SCORE].max()
    assert rows[rows[:, R_FEASIBLE] > 0, R_SCORE].max() == best_ex
    for s in seqs:
        _check(s, pool, 2)


def test_beam_search_stops_without_improvement() -> None:
    ctx, _, mult = random_case(9, n=6, n_seq=1, paths=4)
    pool = [Candidate(i, f"S{i}", "BUY", 1, 1.0, ctx.price_eur[i], "EUR", "weight_based",
                      0.5, "r", 0.6, 0.6) for i in range(6)]
    calls: list[int] = []

    def score(b: object) -> np.ndarray:
        calls.append(1)
        return evaluate(ctx, b, mult)  # type: ignore[arg-type]

    beam_search(pool, score, width=2, max_depth=5, min_improvement=10.0)
    assert len(calls) == 2  # level 1 sets the best, level 2 cannot beat it by 10
