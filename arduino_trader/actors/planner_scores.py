"""The planner's scores: each plan's security scores and the hourly ``score_universe``
job's (every active security from its stored history and fundamentals, no portfolio
context) are upserted into the scores table; a store failure is logged, never fatal."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from arduino_trader.adapters.store import scores_repo
from arduino_trader.domain.planner.universe_scores import score_inputs
from arduino_trader.domain.scoring.scorers import SecurityScore
from arduino_trader.protocols.broker import AccountSnapshot
from arduino_trader.protocols.messages import JobOutcome
from arduino_trader.protocols.store import Database, StoreError

from .base import ActorContext
from .history_cache import HistoryCache
from .planner_inputs import InputGatherer


def _store(ctx: ActorContext) -> Database:
    return ctx.deps.store


def store_scores(ctx: ActorContext, scores: Sequence[SecurityScore],
                 isins: Mapping[str, str], source: str, log: Any) -> int:
    """Upsert scores; a store failure is logged, never fatal to the plan."""
    rows = [(isins[sc.symbol], sc) for sc in scores if sc.symbol in isins]
    try:
        written: int = scores_repo.write_scores(
            _store(ctx), rows, source, ctx.clock.now())
    except StoreError as exc:
        log.warning("scores_not_stored", source=source, error=repr(exc))
        return 0
    return written


def score_universe(ctx: ActorContext, history: HistoryCache, mode: Callable[[], str],
                   log: Any) -> JobOutcome:
    """Score every active security from its stored history and fundamentals (no
    portfolio context: diversification neutral)."""
    gathered = InputGatherer(ctx.io, _store(ctx), None, history=history).gather(
        AccountSnapshot((), ()), mode(), ctx.settings(), ctx.clock.now())
    scored = score_inputs(gathered.plan_input)  # a failure restarts the planner clean
    if scored is None:
        return JobOutcome(True, "no security to score", {"warnings": list(gathered.warnings)})
    valid = [sc for sc in scored if sc is not None]
    written = store_scores(ctx, valid, gathered.isins, "job", log)
    return JobOutcome(written == len(valid), f"{written} securities scored",
                      {"scored": written, "without_prices": len(scored) - len(valid),
                       "warnings": list(gathered.warnings)})
