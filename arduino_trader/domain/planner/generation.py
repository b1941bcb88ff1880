"""Sequence generation (spec/planning.md §2.4) and the early filters (§2.5).

A sequence is a tuple of indices into the candidate pool, sells always before buys, each
symbol at most once. Patterns follow the reference's table; the combinatorial generator
enumerates sell/buy subsets of the top candidates per side deterministically (no
unseeded RNG) and keeps the best ``max_sequences`` by mean priority. The cash walk is
left to the evaluation kernel, which scores an unaffordable sequence 0 (infeasible).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence

import numpy as np

from .evaluation import BUY, SELL, SequenceBatch
from .models import Candidate

Seq = tuple[int, ...]


def _valid(seq: Seq, pool: Sequence[Candidate]) -> bool:
    symbols = [pool[i].symbol for i in seq]
    if len(set(symbols)) != len(symbols):
        return False
    seen_buy = False
    for i in seq:
        if pool[i].side == "BUY":
            seen_buy = True
        elif seen_buy:
            return False
    return True


def _take(idx: Iterable[int], n: int, used: set[str], pool: Sequence[Candidate]) -> list[int]:
    out: list[int] = []
    for i in idx:
        if len(out) >= n:
            break
        if pool[i].symbol not in used:
            out.append(i)
            used.add(pool[i].symbol)
    return out


def _affordable_buys(buys: Sequence[int], n: int, cash: float, used: set[str],
                     pool: Sequence[Candidate]) -> list[int]:
    out: list[int] = []
    for i in buys:
        if len(out) >= n:
            break
        c = pool[i]
        if c.symbol in used or c.value_eur > cash:
            continue
        out.append(i)
        used.add(c.symbol)
        cash -= c.value_eur
    return out


def pattern_sequences(groups: Mapping[str, Sequence[int]], pool: Sequence[Candidate],
                      depth: int, cash: float) -> list[tuple[str, Seq]]:
    """The §2.4 patterns for one depth (running cash, buys only when affordable)."""
    g = {k: list(v) for k, v in groups.items()}
    pt, ad = g.get("profit_taking", []), g.get("averaging_down", [])
    rs, rb = g.get("rebalance_sells", []), g.get("rebalance_buys", [])
    ob = g.get("opportunity_buys", [])
    wb, ws = g.get("weight_based_buys", []), g.get("weight_based_sells", [])
    all_sells = sorted(set(pt + rs + ws), key=lambda i: -pool[i].priority)
    all_buys = sorted(set(ad + rb + ob + wb), key=lambda i: -pool[i].priority)

    def build(sells: list[int], buys: list[int]) -> Seq:
        used: set[str] = set()
        s = _take(sells, depth, used, pool)
        c = cash + sum(pool[i].value_eur for i in s)
        b = _affordable_buys(buys, depth - len(s), c, used, pool)
        return tuple(s + b)

    half = max(1, depth // 2)
    out: list[tuple[str, Seq]] = [
        ("direct_buy", build([], ad + rb + ob + wb)),
        ("profit_taking", build(pt, ad + rb)),
        ("rebalance", build(rs + ws, rb + wb)),
        ("single_best", build(all_sells[:1], []) if all_sells and (
            not all_buys or pool[all_sells[0]].priority >= pool[all_buys[0]].priority)
            else build([], all_buys[:1])),
        ("multi_sell", build(all_sells, all_buys)),
        ("mixed_strategy", build(all_sells[:half], all_buys)),
        ("opportunity_first", build([], ob + ad + rb)),
        ("cash_generation", build(all_sells, ob + ad + rb)),
        ("cost_optimized", build(all_sells, all_buys)),
        ("optimizer", build(ws, wb)),
    ]
    if ad:
        first = pool[ad[0]].value_eur
        pre = pt[:1] if cash < first else []
        out.append(("averaging_down", build(pre, ad)))
    if rs and rb:
        out.append(("deep_rebalance", build(rs[:half], rb)))
    return [(name, seq) for name, seq in out if seq]


def combinatorial_sequences(pool: Sequence[Candidate], max_depth: int, per_side: int,
                            threshold: float, limit: int) -> list[Seq]:
    """Sell subsets (≤ max(1, depth//2)) × buy subsets (≤ min(4, depth)) of the top
    ``per_side`` candidates with priority ≥ threshold, whose mean priority is ≥ threshold;
    the ``limit`` best by mean priority (stable: enumeration order breaks ties)."""
    sells = [i for i, c in enumerate(pool) if c.side == "SELL" and c.priority >= threshold]
    buys = [i for i, c in enumerate(pool) if c.side == "BUY" and c.priority >= threshold]
    sells = sorted(sells, key=lambda i: -pool[i].priority)[:per_side]
    buys = sorted(buys, key=lambda i: -pool[i].priority)[:per_side]
    max_sells = min(4, max(1, max_depth // 2))
    max_buys = min(4, max_depth)
    sell_sets = [c for k in range(max_sells + 1) for c in itertools.combinations(sells, k)]
    buy_sets = [c for k in range(max_buys + 1) for c in itertools.combinations(buys, k)]
    sell_info = [(ss, {pool[i].symbol for i in ss}, sum(pool[i].priority for i in ss))
                 for ss in sell_sets]
    buy_info = [(bs, frozenset(pool[i].symbol for i in bs), sum(pool[i].priority for i in bs))
                for bs in buy_sets]
    out: list[Seq] = []
    prio: list[float] = []
    for ss, sell_symbols, psum in sell_info:
        for bs, buy_symbols, bsum in buy_info:
            n = len(ss) + len(bs)
            if n == 0 or n > max_depth:
                continue
            mean = (psum + bsum) / n
            if mean < threshold or (sell_symbols and not buy_symbols.isdisjoint(sell_symbols)):
                continue
            out.append(ss + bs)
            prio.append(mean)
    if len(out) > limit:
        order = np.argsort(-np.asarray(prio), kind="stable")[:limit]
        out = [out[k] for k in order]
    return out


def generate(groups: Mapping[str, Sequence[int]], pool: Sequence[Candidate], max_depth: int,
             cash: float, per_side: int, threshold: float, limit: int
             ) -> tuple[list[Seq], list[str]]:
    """Patterns for every depth plus combinations, filtered and de-duplicated by the
    ordered (symbol, side) list. Returns the sequences and their origin labels."""
    seen: set[Seq] = set()
    seqs: list[Seq] = []
    labels: list[str] = []
    # Candidates are unique per (symbol, side), so the index tuple identifies the ordered
    # (symbol, side) list.
    for d in range(1, max_depth + 1):
        for name, seq in pattern_sequences(groups, pool, d, cash):
            if seq and seq not in seen and _valid(seq, pool):
                seen.add(seq)
                seqs.append(seq)
                labels.append(name)
    for seq in combinatorial_sequences(pool, max_depth, per_side, threshold, limit):
        if seq not in seen:  # valid by construction
            seen.add(seq)
            seqs.append(seq)
            labels.append("combinatorial")
    return seqs, labels


def encode(seqs: Sequence[Seq], pool: Sequence[Candidate], depth: int) -> SequenceBatch:
    """Pack sequences into the kernel's padded arrays."""
    n = len(seqs)
    d = max(1, depth, max((len(s) for s in seqs), default=0))
    length = np.zeros(n, dtype=np.int64)
    sec = np.full((n, d), -1, dtype=np.int64)
    side = np.zeros((n, d), dtype=np.int64)
    qty = np.zeros((n, d))
    wind = np.zeros((n, d))
    prio = np.zeros((n, d))
    tech = np.zeros((n, d))
    cand_sec = np.array([c.index for c in pool], dtype=np.int64)
    cand_side = np.array([BUY if c.side == "BUY" else SELL for c in pool], dtype=np.int64)
    cand_qty = np.array([c.quantity for c in pool], dtype=np.float64)
    cand_w = np.array([c.windfall_value for c in pool])
    cand_p = np.array([c.priority for c in pool])
    cand_t = np.array([c.technical_value for c in pool])
    length[:] = np.fromiter((len(q) for q in seqs), dtype=np.int64, count=n)
    total = int(length.sum())
    if total:
        flat = np.fromiter(itertools.chain.from_iterable(seqs), dtype=np.int64, count=total)
        rows = np.repeat(np.arange(n), length)
        starts = np.cumsum(length) - length
        cols = np.arange(total) - np.repeat(starts, length)
        sec[rows, cols] = cand_sec[flat]
        side[rows, cols] = cand_side[flat]
        qty[rows, cols] = cand_qty[flat]
        wind[rows, cols] = cand_w[flat]
        prio[rows, cols] = cand_p[flat]
        tech[rows, cols] = cand_t[flat]
    return SequenceBatch(length, sec, side, qty, wind, prio, tech)
