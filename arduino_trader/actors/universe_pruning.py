"""The universe_pruning job's work (run by the maintenance actor on the 1st)."""

from __future__ import annotations

from arduino_trader.adapters.store import pruning_repo
from arduino_trader.domain.universe_pruning import PruningRules, decide
from arduino_trader.protocols.jobs import JobSpec
from arduino_trader.protocols.messages import JobOutcome

from .base import ActorContext

JOB = JobSpec("universe_pruning", "maintenance",
              "Deactivate securities whose mean score stayed low or that look delisted "
              "(held ones are flagged for the owner)", daily_hour_key="job_maintenance_hour",
              month_day=1, enabled_key="universe_pruning_enabled", timeout_s=600)


def run_pruning(ctx: ActorContext) -> JobOutcome:
    """Read the candidates, decide, apply in one transaction; summarize."""
    settings = ctx.settings()
    rules = PruningRules(settings.typed.universe_pruning_score_threshold,
                         settings.typed.universe_pruning_min_samples,
                         settings.typed.universe_pruning_delisted_days,
                         settings.typed.universe_pruning_check_delisted)
    store = ctx.deps.store
    now = ctx.clock.now()
    found = pruning_repo.candidates(store, now.date(),
                                               settings.typed.universe_pruning_months)
    decisions = decide(found, rules, now.date())
    done = pruning_repo.apply(store, decisions, now)
    off = [symbol for symbol, action in done if action == "deactivate"]
    flagged = [symbol for symbol, action in done if action == "flag"]
    return JobOutcome(True, f"checked {len(found)}; deactivated {len(off)} "
                            f"{off}; flagged {len(flagged)} held {flagged}",
                      {"deactivated": off, "flagged": flagged})
