"""Candidate selection and sequence filters (diversity, correlation, early cash feasibility).

* :func:`diverse_select` — the top-N of a category chosen across clusters (country group,
  else first industry, else the 3-character symbol prefix): ⌊N/#clusters⌋ (≥ 1) per
  cluster in order of the clusters' priority sums, topped up by priority, then ranked by
  (1 − λ)·priority + λ/(1 + 0.5·others in the same cluster). Priorities here are already
  in [0, 1], so the reference's ``priority/100`` is ``priority``.
* :func:`diversity_scores` — the modular Python diversity filter's score of a sequence:
  (1 − λ)·mean priority + λ·(0.4·unique-symbol ratio + 0.3·(1 − largest country share) +
  0.3·min(1, distinct tags / min(length, 5))), with real country groups and the candidate
  categories as tags; vectorised over many sequences.
* :func:`correlation_conflicts` — which pairs of securities may not be bought together
  (|ρ| of the last 252 daily returns above the threshold).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import numpy.typing as npt

from .models import Candidate

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
B = npt.NDArray[np.bool_]


def cluster_key(symbol: str, country_group: str | None, industries: Sequence[str]) -> str:
    """Country group when known, else the first industry, else the symbol's 3-char prefix."""
    if country_group:
        return f"country:{country_group}"
    if industries:
        return f"industry:{industries[0]}"
    return f"prefix:{symbol[:3]}"


def diverse_select(cands: Sequence[Candidate], n: int, cluster_of: Callable[[Candidate], str],
                   weight: float) -> list[Candidate]:
    """At most ``n`` candidates spread over clusters, ranked by priority and diversity."""
    if n <= 0 or not cands:
        return []
    clusters: dict[str, list[Candidate]] = {}
    for c in sorted(cands, key=lambda c: -c.priority):
        clusters.setdefault(cluster_of(c), []).append(c)
    order = sorted(clusters, key=lambda key: (-sum(c.priority for c in clusters[key]), key))
    per = max(1, n // len(clusters))
    chosen: list[Candidate] = []
    for key in order:
        for c in clusters[key][:per]:
            if len(chosen) < n:
                chosen.append(c)
    picked = {id(c) for c in chosen}
    for c in sorted(cands, key=lambda c: -c.priority):
        if len(chosen) >= n:
            break
        if id(c) not in picked:
            chosen.append(c)
            picked.add(id(c))
    counts: dict[str, int] = {}
    for c in chosen:
        counts[cluster_of(c)] = counts.get(cluster_of(c), 0) + 1
    lam = min(1.0, max(0.0, weight))

    def rank(c: Candidate) -> float:
        return (1 - lam) * c.priority + lam / (1 + 0.5 * (counts[cluster_of(c)] - 1))

    return sorted(chosen, key=lambda c: -rank(c))  # stable: ties keep priority order


def diversity_scores(seq_cand: I64, length: I64, priority: F64, symbol_id: I64,
                     country_id: I64, tag_id: I64, weight: float) -> F64:
    """Diversity-filter score per sequence.

    ``seq_cand`` (S × D) candidate indices padded with −1, ``length`` (S); per candidate
    ``priority``, ``symbol_id``, ``country_id`` (−1 = none: its own group) and ``tag_id``.
    """
    s, d = seq_cand.shape if seq_cand.ndim == 2 else (0, 0)
    if s == 0:
        return np.zeros(0)
    lam = min(1.0, max(0.0, weight))
    mask = seq_cand >= 0
    idx = np.where(mask, seq_cand, 0)
    n = np.maximum(length, 1).astype(np.float64)
    mean_p = np.where(mask, priority[idx], 0.0).sum(axis=1) / n

    def distinct(ids: I64) -> I64:
        v = np.where(mask, ids[idx], np.iinfo(np.int64).max)
        v = np.sort(v, axis=1)
        new = np.ones_like(v, dtype=bool)
        new[:, 1:] = v[:, 1:] != v[:, :-1]
        return np.asarray((new & (v != np.iinfo(np.int64).max)).sum(axis=1), dtype=np.int64)

    unique_ratio = distinct(symbol_id) / n
    # Largest country share: count equal country ids per row (none = a group of its own).
    cid = np.where(country_id >= 0, country_id, -1 - np.arange(country_id.size))
    v = np.where(mask, cid[idx], np.iinfo(np.int64).min)
    same = (v[:, :, None] == v[:, None, :]) & mask[:, :, None] & mask[:, None, :]
    max_share = same.sum(axis=2).max(axis=1) / n if d else np.zeros(s)
    tags = distinct(tag_id) / np.minimum(n, 5.0)
    div = 0.4 * unique_ratio + 0.3 * (1 - max_share) + 0.3 * np.minimum(1.0, tags)
    out: F64 = (1 - lam) * mean_p + lam * div
    return out


def correlation_conflicts(n_total: int, subset: I64, corr: F64, threshold: float) -> B:
    """(N × N) True where two distinct securities of ``subset`` have |ρ| > ``threshold``
    (``corr`` is their correlation, rows/cols in ``subset`` order)."""
    out = np.zeros((n_total, n_total), dtype=bool)
    if subset.size < 2 or corr.shape != (subset.size, subset.size):
        return out
    hit = np.abs(corr) > threshold
    np.fill_diagonal(hit, False)
    out[np.ix_(subset, subset)] = hit
    return out


def buys_conflict(buy_secs: Sequence[int], conflict: B | None) -> bool:
    """True when two of the securities bought are correlated beyond the threshold."""
    if conflict is None or len(buy_secs) < 2:
        return False
    idx = np.asarray(buy_secs, dtype=np.int64)
    return bool(conflict[np.ix_(idx, idx)].any())
