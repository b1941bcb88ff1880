"""Sequence generation (patterns per depth, adaptive and regime patterns, combinations) and
the early filters.

A sequence is a tuple of indices into the candidate pool, sells always before buys, each
symbol at most once. Patterns follow the reference's table, plus (with
:class:`GenerationOptions`) the full-mode extras: adaptive patterns that buy into the
groups furthest below their targets (country groups mapped through ``country_to_group``,
the reference's bug fixed) and the pattern of the current market regime
(``enable_market_regime_scenarios``). The combinatorial generator enumerates sell/buy
subsets of the top candidates per side deterministically (no unseeded RNG) and keeps the
best ``max_sequences`` by mean priority — or, with the diversity filter on, by the
filter's priority-and-diversity score. The correlation filter drops every sequence that
buys two securities correlated beyond the threshold. The cash walk is left to the
evaluation kernel, which scores an unaffordable sequence 0 (infeasible).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from .evaluation import SequenceBatch
from .filters import buys_conflict, diversity_scores
from .models import Candidate
from .sequence_walk import BUY, SELL

Seq = tuple[int, ...]
ADAPTIVE_COUNTRY_GAP = 0.02
ADAPTIVE_INDUSTRY_GAP = 0.01
ADAPTIVE_GROUPS = 3


@dataclass(frozen=True)
class GenerationOptions:
    """Context of the full-mode extras (all optional; the defaults switch them off).

    Per security index: ``country_group`` and ``industries``; ``country_gaps`` /
    ``industry_gaps`` = target − current share per group; ``regime`` the label of the
    regime whose pattern is added when ``regime_patterns``; ``conflict`` (N × N) the pairs
    that may not be bought together; ``diversity_weight`` λ, used to rank combinations
    when ``diversity_filter``; ``cash`` (spendable, above the reserve) with the costs turns
    on the early cash walk of the combinations (sells first, every buy and its cost
    paid from cash), so the capped set holds no sequence the kernel would reject for cash.
    """

    country_group: Sequence[str] = ()
    industries: Sequence[Sequence[str]] = ()
    country_gaps: Mapping[str, float] = field(default_factory=dict)
    industry_gaps: Mapping[str, float] = field(default_factory=dict)
    regime: str = "sideways"
    regime_patterns: bool = False
    conflict: npt.NDArray[np.bool_] | None = None
    diversity_filter: bool = False
    diversity_weight: float = 0.3
    cash: float | None = None
    cost_fixed: float = 0.0
    cost_pct: float = 0.0


def correlated(seq: Seq, pool: Sequence[Candidate], conflict: npt.NDArray[np.bool_] | None
               ) -> bool:
    """True when ``seq`` buys two securities the correlation filter keeps apart."""
    return buys_conflict([pool[i].index for i in seq if pool[i].side == "BUY"], conflict)


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
                      depth: int, cash: float, options: GenerationOptions | None = None
                      ) -> list[tuple[str, Seq]]:
    """The fixed patterns for one depth (running cash, buys only when affordable), plus the
    adaptive and regime patterns when ``options`` asks for them."""
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
    if options is not None:
        growth_buys = sorted(set(rb + ob + wb), key=lambda i: -pool[i].priority)
        out.extend((name, build([], buys)) for name, buys in
                   adaptive_buy_lists(growth_buys, pool, options))
        if options.regime_patterns:
            rebalance_sells = sorted(set(rs + ws), key=lambda i: -pool[i].priority)
            if options.regime == "bull":
                out.append(("regime_bull", build(pt[:2], growth_buys)))
            elif options.regime == "bear":
                out.append(("regime_bear", build(all_sells[: depth // 2], ad)))
            else:
                out.append(("regime_sideways", build(rebalance_sells[:2], growth_buys)))
    return [(name, seq) for name, seq in out if seq]


def adaptive_buy_lists(buys: Sequence[int], pool: Sequence[Candidate],
                       options: GenerationOptions) -> list[tuple[str, list[int]]]:
    """Buy lists of the adaptive patterns: for each of the top-3 country groups more than
    2 % and the top-3 industry groups more than 1 % below target, the buy candidates in
    that group; and a mix of the best candidate of each such group."""
    if not options.country_group:
        return []
    top_c = [gr for gr, gap in sorted(options.country_gaps.items(), key=lambda t: -t[1])
             if gap > ADAPTIVE_COUNTRY_GAP][:ADAPTIVE_GROUPS]
    top_i = [gr for gr, gap in sorted(options.industry_gaps.items(), key=lambda t: -t[1])
             if gap > ADAPTIVE_INDUSTRY_GAP][:ADAPTIVE_GROUPS]
    out: list[tuple[str, list[int]]] = []
    mix: list[int] = []
    for gr in top_c:
        hits = [i for i in buys if options.country_group[pool[i].index] == gr]
        if hits:
            out.append((f"adaptive_country:{gr}", hits))
            mix.append(hits[0])
    for gr in top_i:
        hits = [i for i in buys if options.industries and gr in options.industries[pool[i].index]]
        if hits:
            out.append((f"adaptive_industry:{gr}", hits))
            mix.append(hits[0])
    mix = list(dict.fromkeys(mix))
    if len(mix) > 1:
        out.append(("adaptive_mix", mix))
    return out


def _pad(seqs: Sequence[Seq], depth: int) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    n = len(seqs)
    length = np.fromiter((len(q) for q in seqs), dtype=np.int64, count=n)
    out = np.full((n, max(1, depth)), -1, dtype=np.int64)
    total = int(length.sum())
    if total:
        flat = np.fromiter(itertools.chain.from_iterable(seqs), dtype=np.int64, count=total)
        rows = np.repeat(np.arange(n), length)
        starts = np.cumsum(length) - length
        out[rows, np.arange(total) - np.repeat(starts, length)] = flat
    return out, length


def combinatorial_sequences(pool: Sequence[Candidate], max_depth: int, per_side: int,
                            threshold: float, limit: int,
                            options: GenerationOptions | None = None) -> list[Seq]:
    """Sell subsets (≤ max(1, depth//2)) × buy subsets (≤ min(4, depth)) of the top
    ``per_side`` candidates with priority ≥ threshold, whose mean priority is ≥ threshold;
    buy subsets the correlation filter refuses and (with ``options.cash``) combinations the
    cash walk cannot pay are skipped; the ``limit`` best by mean
    priority, or by the diversity-filter score when ``options.diversity_filter`` (stable:
    enumeration order breaks ties)."""
    conflict = options.conflict if options is not None else None
    sells = [i for i, c in enumerate(pool) if c.side == "SELL" and c.priority >= threshold]
    buys = [i for i, c in enumerate(pool) if c.side == "BUY" and c.priority >= threshold]
    sells = sorted(sells, key=lambda i: -pool[i].priority)[:per_side]
    buys = sorted(buys, key=lambda i: -pool[i].priority)[:per_side]
    max_sells = min(4, max(1, max_depth // 2))
    max_buys = min(4, max_depth)
    sell_sets = [c for k in range(max_sells + 1) for c in itertools.combinations(sells, k)]
    buy_sets = [c for k in range(max_buys + 1) for c in itertools.combinations(buys, k)
                if not correlated(c, pool, conflict)]
    walk = options is not None and options.cash is not None
    fixed, pct = (options.cost_fixed, options.cost_pct) if options is not None else (0.0, 0.0)

    def net(idx: tuple[int, ...], sign: float) -> float:
        return sum(sign * pool[i].value_eur - fixed - pct * pool[i].value_eur for i in idx)

    sell_info = [(ss, {pool[i].symbol for i in ss}, sum(pool[i].priority for i in ss),
                  net(ss, 1.0)) for ss in sell_sets]
    buy_info = [(bs, frozenset(pool[i].symbol for i in bs), sum(pool[i].priority for i in bs),
                 net(bs, -1.0)) for bs in buy_sets]
    cash = options.cash if options is not None and options.cash is not None else 0.0
    out: list[Seq] = []
    prio: list[float] = []
    for ss, sell_symbols, psum, raised in sell_info:
        for bs, buy_symbols, bsum, spent in buy_info:
            n = len(ss) + len(bs)
            if n == 0 or n > max_depth:
                continue
            if walk and cash + raised + spent < -1e-9:
                continue  # early feasibility: sells first, so the walk's low is the end
            mean = (psum + bsum) / n
            if mean < threshold or (sell_symbols and not buy_symbols.isdisjoint(sell_symbols)):
                continue
            out.append(ss + bs)
            prio.append(mean)
    if len(out) > limit:
        if options is not None and options.diversity_filter:
            rank = _diversity(out, pool, max_depth, options)
        else:
            rank = np.asarray(prio)
        order = np.argsort(-rank, kind="stable")[:limit]
        out = [out[k] for k in order]
    return out


def _diversity(seqs: Sequence[Seq], pool: Sequence[Candidate], depth: int,
               options: GenerationOptions) -> npt.NDArray[np.float64]:
    cand, length = _pad(seqs, depth)
    groups: dict[str, int] = {}
    tags: dict[str, int] = {}
    country = np.array([groups.setdefault(options.country_group[c.index], len(groups))
                        if options.country_group and options.country_group[c.index] else -1
                        for c in pool], dtype=np.int64)
    tag = np.array([tags.setdefault(c.category, len(tags)) for c in pool], dtype=np.int64)
    symbol = np.array([c.index for c in pool], dtype=np.int64)
    prio = np.array([c.priority for c in pool])
    return diversity_scores(cand, length, prio, symbol, country, tag, options.diversity_weight)


def generate(groups: Mapping[str, Sequence[int]], pool: Sequence[Candidate], max_depth: int,
             cash: float, per_side: int, threshold: float, limit: int,
             options: GenerationOptions | None = None, stats: dict[str, int] | None = None
             ) -> tuple[list[Seq], list[str]]:
    """Patterns for every depth plus combinations, filtered (validity, correlation) and
    de-duplicated by the ordered (symbol, side) list. Returns the sequences and their
    origin labels; ``stats`` (if given) receives the number of pattern sequences the
    correlation filter dropped."""
    seen: set[Seq] = set()
    seqs: list[Seq] = []
    labels: list[str] = []
    conflict = options.conflict if options is not None else None
    dropped = 0
    # Candidates are unique per (symbol, side), so the index tuple identifies the ordered
    # (symbol, side) list.
    for d in range(1, max_depth + 1):
        for name, seq in pattern_sequences(groups, pool, d, cash, options):
            if seq and seq not in seen and _valid(seq, pool):
                seen.add(seq)
                if correlated(seq, pool, conflict):
                    dropped += 1
                    continue
                seqs.append(seq)
                labels.append(name)
    for seq in combinatorial_sequences(pool, max_depth, per_side, threshold, limit, options):
        if seq not in seen:  # valid and uncorrelated by construction
            seen.add(seq)
            seqs.append(seq)
            labels.append("combinatorial")
    if stats is not None:
        stats["correlation_dropped_patterns"] = dropped
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
