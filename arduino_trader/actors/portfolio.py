"""The portfolio actor: the ``sync_cycle`` job.

One job, run under the scheduler's per-job lock (a trigger while it runs is coalesced),
in this order: trades → cash flows → portfolio → emergency check → prices. Only the
portfolio step is critical: when it fails the cycle stops there and health is told. The
others report their own outcome and the cycle goes on; no step reports a success it did
not earn.

The cash-flow and emergency steps ask the ``cash_flows`` actor (it owns those writes; in
live mode its emergency sales go through the executor): ``RunJob("cash_flow_sync")``,
then ``CheckBalances`` and, only when a balance is negative or thin,
``RunJob("emergency_rebalance")``. That actor also runs these as its own scheduled jobs;
while one of its jobs is running (an unfinished ``job_runs`` row) or when it does not
answer within the ask timeout, the step is ``busy`` and the cycle goes on — the actor
runs one message at a time, so nothing overlaps and nothing waits forever.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Literal

from arduino_trader.adapters.store import broker_trade_import, snapshot_repo
from arduino_trader.adapters.store import portfolio_repo as repo
from arduino_trader.adapters.store import trade_history_coverage as coverage
from arduino_trader.domain import analytics
from arduino_trader.domain.valuation import Valuation, value_account
from arduino_trader.protocols.broker import Broker
from arduino_trader.protocols.broker_errors import BROKER_CALL_FAILURES, BrokerUnsupported
from arduino_trader.protocols.cash_flows import CheckBalances
from arduino_trader.protocols.execution import PublishFills
from arduino_trader.protocols.jobs import JobSpec
from arduino_trader.protocols.market_data import (
    MARKET_DATA_ASK_FAILURES,
    GetFxRate,
    PricesUpdated,
    SecurityAdded,
)
from arduino_trader.protocols.messages import ComponentStatus, HealthLevel, JobOutcome, RunJob
from arduino_trader.protocols.money import decimal_to_str
from arduino_trader.protocols.portfolio import PortfolioSynced
from arduino_trader.protocols.runtime import ASK_FAILURES, ActorUnavailable, JobFailed
from arduino_trader.protocols.store import Database, StoreError

from .base import HEALTH_ACTOR, ActorContext, BaseActor, handles
from .cash_flows import JOBS as CASH_FLOW_JOBS

ACTOR = "portfolio"
COMPONENT = "portfolio"
BROKER_TIMEOUT_S = 90.0
TRADE_LOOKBACK_DAYS = 30  # once every security's history is covered
MARKET_DATA_ACTOR = "market_data"
FX_ASK_TIMEOUT_S = 60.0
CASH_FLOW_ACTOR = "cash_flows"
CASH_FLOW_SYNC_TIMEOUT_S = 120.0  # the cycle's budget (600 s) covers every step's wait
BALANCE_CHECK_TIMEOUT_S = 60.0
EMERGENCY_TIMEOUT_S = 180.0
PRICES_BUDGET_S = 300.0  # the sync_prices job's own budget

JOBS: tuple[JobSpec, ...] = (
    JobSpec("sync_cycle", ACTOR, "Sync cycle: broker trades, cash flows, portfolio "
            "(positions, cash, daily snapshot; critical), emergency check, prices",
            every_minutes_key="job_sync_cycle_minutes", timeout_s=600, run_at_startup=True),
)

StepStatus = Literal["ok", "failed", "skipped", "unavailable", "busy"]


@dataclass(frozen=True)
class StepResult:
    """The outcome of one step of the cycle."""

    name: str
    status: StepStatus
    summary: str
    critical: bool = False
    details: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        """For the job's details."""
        return {"status": self.status, "summary": self.summary, "critical": self.critical,
                **self.details}


class PortfolioActor(BaseActor):
    """Owns the portfolio tables: syncs them from the broker and revalues on new prices."""

    name = ACTOR
    needs = ("store", "broker")
    ctx: ActorContext

    @property
    def _db(self) -> Database:
        return self.ctx.deps.store

    @property
    def _broker(self) -> Broker:
        return self.ctx.deps.broker


    def _fx_max_age(self) -> int:
        """The one FX age rule: an older stored rate values nothing."""
        return self.ctx.settings().typed.market_data.fx_max_age_days

    def _mode(self) -> str:
        """The ledger mode of the configured broker's records."""
        return "research" if getattr(self._broker, "simulated", False) else "live"

    # ------------------------------------------------------------------- job
    @handles(RunJob)
    def _on_run(self, msg: RunJob) -> JobOutcome:
        if msg.job != "sync_cycle":
            return JobOutcome(False, f"portfolio does not run job {msg.job!r}")
        return self.sync_cycle(msg.run_id)

    def sync_cycle(self, run_id: str = "manual") -> JobOutcome:
        """Run the five steps in order; stop after a failed portfolio step."""
        results: list[StepResult] = [self._guard("trades", self.sync_trades)]
        results.append(self._guard("cash_flows", lambda: self.sync_cash_flows(run_id)))
        portfolio = self._guard("portfolio", self.sync_portfolio, critical=True)
        results.append(portfolio)
        self._tell_health(portfolio)
        if portfolio.status != "ok":
            results += [StepResult(n, "skipped", "cycle aborted: the portfolio step failed")
                        for n in ("emergency", "prices")]
        else:
            results.append(self._guard("emergency",
                                       lambda: self.emergency_check(portfolio, run_id)))
            results.append(self._guard("prices", lambda: self.refresh_prices(run_id)))
        failed = [r.name for r in results if r.status == "failed"]
        summary = "; ".join(f"{r.name}: {r.summary}" for r in results)
        if failed:
            self.log.warning("sync_cycle_failed", failed=failed, summary=summary)
        else:
            self.log.info("sync_cycle_completed",
                          steps={r.name: r.status for r in results})
        return JobOutcome(not failed, summary[:2000],
                          {"steps": {r.name: r.as_json() for r in results},
                           "failed": failed})

    def _guard(self, name: str, step: Callable[[], StepResult],
               critical: bool = False) -> StepResult:
        if self.ctx.stopping.is_set():
            return StepResult(name, "failed" if critical else "skipped", "daemon stopping",
                              critical)
        try:
            result = step()
        except (*BROKER_CALL_FAILURES, *ASK_FAILURES) as exc:  # the broker or another actor
            # gave no answer: reported as this step's failure (anything else restarts)
            self.log.error("sync_step_failed", step=name, critical=critical, error=repr(exc))
            return StepResult(name, "failed", f"{type(exc).__name__}: {exc}"[:300], critical)
        return StepResult(result.name, result.status, result.summary, critical,
                          result.details)

    def _tell_health(self, step: StepResult) -> None:
        level: HealthLevel = "ok" if step.status == "ok" else "degraded"
        try:
            self.ctx.bus.tell(HEALTH_ACTOR, ComponentStatus(
                COMPONENT, level, f"portfolio sync: {step.summary}"[:500], self.ctx.clock.now()))
        except ActorUnavailable:
            pass

    # ----------------------------------------------------------------- steps
    def sync_trades(self) -> StepResult:
        """Import the broker's executed trades into the ledger (once per trade id).

        While a universe security's trade history is not covered yet (the first sync, or
        a security that joined since), the import reaches a full year back and records
        every universe security as covered in the same transaction; after that the last
        ``TRADE_LOOKBACK_DAYS`` suffice. A broker without a trade history covers them too:
        the executor's own fills are all the ledger can ever hold."""
        now = self.ctx.clock.now()
        mode = self._mode()
        secs = repo.securities_by_symbol(self._db)
        isins = {symbol: str(s["isin"]) for symbol, s in secs.items()}
        new = set(isins.values()) - coverage.covered_isins(self._db, mode)
        days = coverage.FULL_WINDOW_DAYS if new else TRADE_LOOKBACK_DAYS
        try:
            trades = self.ctx.io.run(self._broker.trades(now.date() - timedelta(days=days),
                                                         now.date()), BROKER_TIMEOUT_S)
        except BrokerUnsupported as exc:
            with self._db.transaction() as tx:
                coverage.cover(tx, mode, new, now)
            return StepResult("trades", "skipped", f"the broker has no trade history: {exc}")
        rates = repo.stored_eur_rates(self._db, {t.currency for t in trades})
        result = broker_trade_import.import_broker_trades(
            self._db, trades, mode, isins, rates, now, cover=sorted(new))
        for learned in result.pop("fees_learned"):  # committed: safe to announce
            self.ctx.bus.publish(learned)
        if result["ours"]:  # fills of our orders seen here first: the executor announces
            try:            # them (else its next follow-up round does)
                self.ctx.bus.tell("executor", PublishFills())
            except ActorUnavailable:
                pass
        unknown = result["unknown_symbols"]
        if unknown:
            self.log.warning("broker_trades_unknown_symbols", symbols=unknown)
        result["newly_covered"] = len(new)
        summary = (f"{result['inserted']} new of {result['received']} broker trades "
                   f"({mode}, last {days} days)"
                   + (f", {len(new)} securities' trade history imported" if new else "")
                   + (f", {len(unknown)} symbol(s) not in the universe" if unknown else ""))
        return StepResult("trades", "ok", summary, details=result)

    def sync_portfolio(self) -> StepResult:
        """Broker account → positions and cash (EUR at stored FX) → daily snapshot."""
        now = self.ctx.clock.now()
        account = self.ctx.io.run(self._broker.account(), BROKER_TIMEOUT_S)
        secs = repo.securities_by_symbol(self._db)
        currencies = {p.currency for p in account.positions} | {c.currency
                                                                for c in account.cash}
        rates = repo.stored_eur_rates(self._db, currencies, now.date(),
                                                  self._fx_max_age())
        missing = sorted(currencies - set(rates) - {"EUR"})
        if missing:
            rates = self._fetch_missing_rates(missing, currencies)
        valuation = value_account(account.positions, account.cash, rates,
                                  {s: str(v["isin"]) for s, v in secs.items()})
        counts = repo.save_account(self._db, valuation, now, self._mode())
        details: dict[str, Any] = {**counts, "missing_fx": list(valuation.missing_fx)}
        if valuation.missing_fx:
            self.log.error("portfolio_fx_missing", currencies=list(valuation.missing_fx))
            return StepResult("portfolio", "failed",
                              f"{counts['positions']} positions stored, no snapshot: no "
                              f"stored FX rate for {', '.join(valuation.missing_fx)}",
                              details=details)
        day = self._snapshot(valuation, secs, now)
        total = valuation.total_eur
        self.ctx.bus.publish(PortfolioSynced(
            at=now, position_count=len(valuation.positions), total_value_eur=total,
            cash_eur=valuation.cash_eur, invested_eur=valuation.invested_eur,
            missing_fx=valuation.missing_fx, negative_cash=valuation.negative_cash,
            snapshot_day=day))
        details["total_value_eur"] = None if total is None else decimal_to_str(total)
        details["negative_cash"] = {k: decimal_to_str(v)
                                    for k, v in valuation.negative_cash.items()}
        return StepResult("portfolio", "ok",
                          f"{counts['positions']} positions, {counts['currencies']} cash "
                          f"currencies, total EUR {total}, snapshot {day}", details=details)

    def _fetch_missing_rates(self, missing: list[str], currencies: set[str]
                             ) -> dict[str, Decimal]:
        """Ask market data for rates not stored yet (it fetches and stores them; a cash
        currency may have no security, so ``sync_fx`` never fetched it), then re-read."""
        for code in missing:
            try:
                self.ctx.bus.ask(MARKET_DATA_ACTOR, GetFxRate(code), FX_ASK_TIMEOUT_S)
            except MARKET_DATA_ASK_FAILURES as exc:  # reported below as missing
                self.log.warning("portfolio_fx_fetch_failed", currency=code, error=repr(exc))
        rates: dict[str, Decimal] = repo.stored_eur_rates(
            self._db, currencies, self.ctx.clock.now().date(), self._fx_max_age())
        return rates

    def _snapshot(self, valuation: Valuation, secs: dict[str, dict[str, Any]],
                  now: datetime) -> str:
        day = now.date()
        invested = valuation.invested_eur or Decimal(0)
        cash = valuation.cash_eur or Decimal(0)
        values = {p.symbol: float(p.market_value_eur or 0) for p in valuation.positions}
        countries = {s: (secs.get(s) or {}).get("country") for s in values}
        flow = repo.net_external_flow(self._db, day)
        since = now - timedelta(days=365)
        volume = repo.trade_volume_eur(self._db, self._mode(), since)
        stored = snapshot_repo.snapshot_totals(self._db, since.date())
        totals = [v for d, v in stored.items() if d != day.isoformat()] + [
            float(invested + cash)]
        turnover = analytics.turnover(float(volume["buys"]), float(volume["sells"]),
                                      sum(totals) / len(totals), volume["count"])
        snapshot = snapshot_repo.SnapshotRow(
            day=day, total_value=invested + cash, cash_balance=cash, invested_value=invested,
            unrealized_pnl=valuation.unrealized_pnl_eur or Decimal(0),
            geo={str(k): v for k, v in analytics.region_shares(values, countries).items()},
            position_count=len(valuation.positions), net_external_flow_eur=flow,
            holdings={p.symbol: (p.isin, p.market_value_eur or Decimal(0))
                      for p in valuation.positions},
            annual_turnover=turnover.annual_turnover)
        snapshot_repo.upsert_snapshot(self._db, snapshot, now)
        return day.isoformat()

    def _cash_flow_job_running(self) -> str | None:
        """The cash-flow job the scheduler is running now (an unfinished run started
        within its timeout), else None; an unreadable history is no answer (None)."""
        since = self.ctx.clock.now() - timedelta(seconds=max(j.timeout_s
                                                             for j in CASH_FLOW_JOBS))
        try:
            running: str | None = repo.running_job(
                self._db, [j.name for j in CASH_FLOW_JOBS], since)
        except StoreError as exc:  # the ask's timeout still bounds the wait
            self.log.warning("job_runs_unreadable", error=repr(exc))
            return None
        return running

    def _ask_cash_flows(self, step: str, message: object, timeout: float
                        ) -> tuple[Any, StepResult | None]:
        """Ask the cash-flow actor; a step result instead of an answer when it is busy
        (running one of its jobs, or no answer in ``timeout``) or not running."""
        running = self._cash_flow_job_running()
        if running is not None:
            return None, StepResult(step, "busy", f"cash_flows is running job {running}; "
                                                  f"left to it (the next cycle retries)")
        try:
            return self.ctx.bus.ask(CASH_FLOW_ACTOR, message, timeout), None
        except TimeoutError:
            self.log.warning("sync_step_busy", step=step, timeout_s=timeout)
            return None, StepResult(step, "busy", f"cash_flows did not answer within "
                                                  f"{timeout:.0f} s (busy); the next cycle "
                                                  f"retries")
        except ActorUnavailable as exc:
            return None, StepResult(step, "unavailable", f"cash_flows actor not running: "
                                                         f"{exc}")
        except JobFailed as exc:  # cash_flows restarts itself; this step failed
            return None, StepResult(step, "failed", str(exc)[:300])

    def sync_cash_flows(self, run_id: str) -> StepResult:
        """Step 2: the cash-flow actor syncs every broker source (``cash_flow_sync``)."""
        answer, refused = self._ask_cash_flows(
            "cash_flows", RunJob("cash_flow_sync", f"{run_id}:cash_flows",
                                budget_s=CASH_FLOW_SYNC_TIMEOUT_S),
            CASH_FLOW_SYNC_TIMEOUT_S)
        if refused is not None:
            return refused
        if not isinstance(answer, JobOutcome):
            return StepResult("cash_flows", "failed", f"unexpected answer {answer!r}"[:300])
        return StepResult("cash_flows", "ok" if answer.ok else "failed", answer.summary,
                          details=dict(answer.details))

    def emergency_check(self, portfolio: StepResult, run_id: str) -> StepResult:
        """Step 4: the negative/thin balance check; only a negative or thin balance runs the
        repair (``emergency_rebalance``: research records, live sells via the executor)."""
        negative = portfolio.details.get("negative_cash") or {}
        note = ""
        if negative:
            self.log.warning("negative_cash_balance", balances=negative)
            note = "; NEGATIVE cash: " + ", ".join(f"{c} {a}"
                                                    for c, a in sorted(negative.items()))
        extra: dict[str, Any] = {"negative_cash": negative} if negative else {}
        answer, refused = self._ask_cash_flows("emergency", CheckBalances(),
                                               BALANCE_CHECK_TIMEOUT_S)
        if refused is not None:
            return StepResult("emergency", refused.status, refused.summary + note,
                              details=extra)
        if isinstance(answer, dict) and answer.get("error") == "missing_rate" and not negative:
            # Nothing is negative, so only a thin balance could be short, and nothing can
            # be exchanged without the rate anyway (the FX sync has not run yet, e.g. at
            # start-up): the check waits for the next cycle. A negative balance still fails.
            return StepResult("emergency", "skipped", f"waiting for FX rates: "
                              f"{answer.get('message', '')}"[:300], details=extra)
        if not isinstance(answer, dict) or "error" in answer:
            error = answer.get("message", answer) if isinstance(answer, dict) else answer
            return StepResult("emergency", "failed", f"balance check failed: {error}{note}"
                              [:300], details=extra)
        check = {k: (decimal_to_str(v) if isinstance(v, Decimal) else v)
                 for k, v in answer.items()}
        extra["check"] = check
        if not answer.get("has_negative") and not answer.get("below_minimum"):
            return StepResult("emergency", "ok", "no negative or thin balance" + note,
                              details=extra)
        outcome, refused = self._ask_cash_flows(
            "emergency", RunJob("emergency_rebalance", f"{run_id}:emergency",
                                 budget_s=EMERGENCY_TIMEOUT_S),
            EMERGENCY_TIMEOUT_S)
        if refused is not None:
            return StepResult("emergency", refused.status, refused.summary + note,
                              details=extra)
        if not isinstance(outcome, JobOutcome):
            return StepResult("emergency", "failed", f"unexpected answer {outcome!r}"[:300],
                              details=extra)
        extra["run"] = dict(outcome.details)
        if outcome.details.get("locked"):
            return StepResult("emergency", "busy", outcome.summary + note, details=extra)
        return StepResult("emergency", "ok" if outcome.ok else "failed",
                          f"repair: {outcome.summary}{note}", details=extra)

    def refresh_prices(self, run_id: str) -> StepResult:
        """Ask the market-data actor to refresh quotes (it publishes ``PricesUpdated``)."""
        self.ctx.bus.tell(MARKET_DATA_ACTOR, RunJob("sync_prices", f"{run_id}:prices",
                                                         budget_s=PRICES_BUDGET_S))
        return StepResult("prices", "ok", "price refresh requested from market_data")

    # ---------------------------------------------------------------- events
    @handles(PricesUpdated)
    def _on_prices(self, msg: PricesUpdated) -> None:
        updated = repo.apply_latest_prices(self._db, self.ctx.clock.now())  # a failure
        # restarts the actor; the next PricesUpdated revalues
        if updated:
            self.log.info("portfolio_revalued", positions=updated)

    @handles(SecurityAdded)
    def _on_security_added(self, msg: SecurityAdded) -> None:
        """A security that joined the universe gets its trade history imported now, not
        at the next cycle: until then its hold time is unknown and no plan is made."""
        if coverage.is_covered(self._db, self._mode(), msg.isin):
            return  # an earlier event's import covered it
        step = self._guard("trades", self.sync_trades)
        self.log.info("trade_history_imported", isin=msg.isin, status=step.status,
                      summary=step.summary)
