"""One sequence's own terms, for the evaluation kernel (Numba).

:func:`simulate` walks a sequence's actions over the holdings and cash (costs paid from
cash; a buy below the reserve or a sell of more than is held makes it infeasible),
:func:`sequence_terms` gives its scenario-independent opportunity-capture and
regime/robustness components (sub-scores into ``sub`` at the indices of
:data:`.evaluation.SUBSCORES`), and :func:`touched` lists the securities it changed.
Actions are encoded with :data:`BUY` / :data:`SELL`.

The kernels of :mod:`.evaluation` compile these in; Numba's cache checks only the file
of the function it compiled, so after an edit here clear the cache (``NUMBA_CACHE_DIR``
or the ``__pycache__`` folders) before trusting a cached kernel.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from numba import njit

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
BUY = 1
SELL = -1


@njit(cache=True, nogil=True, error_model="numpy")
def simulate(s: int, length: I64, sec: I64, side: I64, qty: F64, price_eur: F64,
             q_out: F64, cash0: float, reserve: float, cost_fixed: float,
             cost_pct: float) -> tuple[bool, float, float]:
    """Apply sequence ``s`` to ``q_out`` (a copy of the holdings): (feasible, cash, cost)."""
    cash = cash0
    cost = 0.0
    for a in range(length[s]):
        i = sec[s, a]
        n = qty[s, a]
        value = n * price_eur[i]
        c = cost_fixed + cost_pct * value
        cost += c
        if side[s, a] == SELL:
            if n > q_out[i] + 1e-9 or n <= 0.0:
                return False, cash, cost
            q_out[i] = max(0.0, q_out[i] - n)
            cash += value - c
        else:
            if n <= 0.0 or cash - value - c < reserve - 1e-9:
                return False, cash, cost
            q_out[i] += n
            cash -= value + c
    return True, cash, cost


@njit(cache=True, nogil=True, error_model="numpy")
def sequence_terms(s: int, length: I64, sec: I64, side: I64, windfall: F64, priority: F64,
                   technical: F64, regime: int, sub: F64) -> tuple[float, float]:
    """Opportunity-capture and regime/robustness components (scenario-independent)."""
    n = length[s]
    if n == 0:
        sub[0] = 0.5
        sub[1] = 0.5
        sub[2] = 0.5
        opp = 0.5
        buy_share = 0.0
        sell_share = 0.0
        robust = 1.0
    else:
        wsum = 0.0
        psum = 0.0
        tsum = 0.0
        nb = 0
        for a in range(n):
            wsum += windfall[s, a]
            p = priority[s, a]
            psum += min(1.0, max(0.0, p))
            tsum += technical[s, a]
            if side[s, a] == BUY:
                nb += 1
        sub[0] = wsum / n
        sub[1] = psum / n
        sub[2] = tsum / n
        opp = 0.40 * sub[0] + 0.35 * sub[1] + 0.25 * sub[2]
        buy_share = nb / n
        sell_share = (n - nb) / n
        distinct = 0
        both = 0
        for a in range(n):
            first = True
            for b in range(a):
                if sec[s, b] == sec[s, a]:
                    first = False
                    break
            if not first:
                continue
            distinct += 1
            has_buy = False
            has_sell = False
            for b in range(n):
                if sec[s, b] == sec[s, a]:
                    if side[s, b] == BUY:
                        has_buy = True
                    else:
                        has_sell = True
            if has_buy and has_sell:
                both += 1
        robust = 1.0 - both / distinct
    if regime > 0:
        align = 0.5 + 0.5 * buy_share
    elif regime < 0:
        align = 0.5 + 0.5 * sell_share
    else:
        align = 0.7
    sub[12] = align
    sub[13] = robust
    return opp, 0.6 * align + 0.4 * robust


@njit(cache=True, nogil=True, error_model="numpy")
def touched(s: int, length: I64, sec: I64, q: F64, hold_qty: F64) -> tuple[I64, F64]:
    """Distinct securities a sequence changed and their quantity changes."""
    n = length[s]
    idx = np.empty(n, dtype=np.int64)
    dq = np.empty(n)
    m = 0
    for a in range(n):
        i = sec[s, a]
        dup = False
        for b in range(m):
            if idx[b] == i:
                dup = True
                break
        if not dup:
            idx[m] = i
            dq[m] = q[i] - hold_qty[i]
            m += 1
    return idx[:m], dq[:m]
