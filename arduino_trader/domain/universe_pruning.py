"""Which securities the monthly pruning takes out of the universe (pure).

A security is pruned when its mean score over the window stayed below the threshold
(with at least the minimum number of samples), or when it looks delisted: no price for
the configured number of days (counted from its last price, or from when it was added
if it never had one). A held security is never deactivated: it is flagged instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Literal


@dataclass(frozen=True)
class PruningRules:
    """The ``universe_pruning_*`` settings."""

    score_threshold: float
    min_samples: int
    delisted_days: int
    check_delisted: bool = True


@dataclass(frozen=True)
class PruningCandidate:
    """What the rules need to know about one active security."""

    isin: str
    symbol: str
    held: bool
    scores: tuple[float, ...]  # the samples inside the window
    last_price_day: date | None
    added_on: date


@dataclass(frozen=True)
class PruningDecision:
    """Deactivate, or flag for the owner when held; ``reason`` says why."""

    isin: str
    symbol: str
    action: Literal["deactivate", "flag"]
    reason: str


def decide(candidates: list[PruningCandidate], rules: PruningRules,
           today: date) -> list[PruningDecision]:
    """The decisions for ``candidates``, in their order (kept securities are absent)."""
    out: list[PruningDecision] = []
    for c in candidates:
        reason = _reason(c, rules, today)
        if reason is not None:
            out.append(PruningDecision(c.isin, c.symbol, "flag" if c.held else "deactivate",
                                       reason))
    return out


def _reason(c: PruningCandidate, rules: PruningRules, today: date) -> str | None:
    since = c.last_price_day or c.added_on
    silent = (today - since).days
    if rules.check_delisted and silent >= rules.delisted_days:
        what = f"last price {c.last_price_day}" if c.last_price_day else "never priced"
        return f"delisted? no price for {silent} days ({what})"
    if len(c.scores) >= rules.min_samples:
        mean = sum(c.scores) / len(c.scores)
        if mean < rules.score_threshold:
            return (f"mean score {mean:.3f} over {len(c.scores)} samples below "
                    f"{rules.score_threshold}")
    return None
