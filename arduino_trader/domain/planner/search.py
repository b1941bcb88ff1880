"""A real beam search over partial sequences.

Level by level, each of the K best partial sequences is extended with every non-conflicting
candidate (a symbol at most once, sells before buys); all extensions of a level are scored
in one kernel call; the K best feasible ones form the next beam. The search stops at the
maximum depth, when nothing can be added, or when a level improves the best score by less
than ``min_improvement``. Because sells come first and buys only spend cash, the end state
of a sequence does not depend on the order within its sells or within its buys, so
extensions are de-duplicated by their (symbol, side) set.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import numpy.typing as npt

from .evaluation import R_FEASIBLE, R_SCORE, SequenceBatch
from .generation import Seq, encode
from .models import Candidate

F64 = npt.NDArray[np.float64]


def beam_search(pool: Sequence[Candidate], score: Callable[[SequenceBatch], F64],
                width: int, max_depth: int, min_improvement: float,
                conflict: npt.NDArray[np.bool_] | None = None
                ) -> tuple[list[Seq], F64]:
    """Every sequence the beam evaluated and its kernel result rows; ``conflict`` (N × N,
    the correlation filter) forbids extending a sequence with a buy correlated to one of
    its buys."""
    beam: list[Seq] = [()]
    best = -np.inf
    seen: set[frozenset[tuple[str, str]]] = set()
    all_seqs: list[Seq] = []
    all_rows: list[F64] = []
    for _level in range(max_depth):
        expansions: list[Seq] = []
        for seq in beam:
            used = {pool[i].symbol for i in seq}
            bought = [pool[i].index for i in seq if pool[i].side == "BUY"]
            has_buy = bool(bought)
            for j, c in enumerate(pool):
                if c.symbol in used or (c.side == "SELL" and has_buy):
                    continue
                if conflict is not None and c.side == "BUY" and bought \
                        and bool(conflict[c.index, bought].any()):
                    continue
                new = (*seq, j)
                key = frozenset((pool[i].symbol, pool[i].side) for i in new)
                if key in seen:
                    continue
                seen.add(key)
                expansions.append(new)
        if not expansions:
            break
        rows = score(encode(expansions, pool, max_depth))
        all_seqs.extend(expansions)
        all_rows.append(rows)
        feasible = np.flatnonzero(rows[:, R_FEASIBLE] > 0)
        if feasible.size == 0:
            break
        order = feasible[np.argsort(-rows[feasible, R_SCORE], kind="stable")][:max(1, width)]
        level_best = float(rows[order[0], R_SCORE])
        beam = [expansions[k] for k in order]
        if level_best < best + min_improvement:
            break
        best = max(best, level_best)
    result = np.vstack(all_rows) if all_rows else np.zeros((0, 6))
    return all_seqs, result
