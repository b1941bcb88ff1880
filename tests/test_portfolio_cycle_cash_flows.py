"""The sync cycle's cash-flow and emergency steps: asked of the
cash-flow actor in order, non-critical, ``busy`` instead of waiting on a running job, and
end to end with the real cash-flow actor on the paper broker (research mode)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pykka
import pytest

from arduino_trader.actors import portfolio as portfolio_actor
from arduino_trader.actors.base import ActorContext, BaseActor, handles
from arduino_trader.actors.cash_flows import CashFlowActor
from arduino_trader.actors.portfolio import PortfolioActor
from arduino_trader.adapters.clock import ManualClock
from arduino_trader.adapters.paper_broker import PaperBroker
from arduino_trader.adapters.paper_ledger import PaperFees
from arduino_trader.adapters.store import market_repo
from arduino_trader.adapters.store.sqlite import SqliteStore
from arduino_trader.config.settings import load_settings
from arduino_trader.daemon.bus import ActorBus
from arduino_trader.daemon.io_loop import IoLoop
from arduino_trader.protocols.cash_flows import CheckBalances
from arduino_trader.protocols.market_data import FxRate
from arduino_trader.protocols.messages import JobOutcome, Ping, RunJob
from tests.wiring import wired

START = datetime(2026, 3, 10, 11, 0, tzinfo=UTC)


class FakeCashFlows(BaseActor):
    """Stands in for the cash-flow actor: records what it is asked, answers as told."""

    name = "cash_flows"

    def __init__(self, ctx: ActorContext, seen: list[Any], answers: dict[str, Any],
                 release: threading.Event) -> None:
        super().__init__(ctx)
        self.seen = seen
        self.answers = answers
        self.release = release

    @handles(RunJob)
    def _job(self, msg: RunJob) -> JobOutcome:
        self.seen.append(msg)
        if msg.job == "cash_flow_sync" and self.answers.get("slow"):
            self.release.wait(10)  # a long sync: the cycle must not wait for it
        answer: JobOutcome = self.answers.get(msg.job, JobOutcome(True, f"{msg.job} done"))
        return answer

    @handles(CheckBalances)
    def _check(self, msg: CheckBalances) -> dict[str, Any]:
        self.seen.append(msg)
        check: dict[str, Any] = self.answers.get("check", {
            "has_negative": False, "below_minimum": False, "shortfalls": {},
            "total_shortfall_eur": Decimal(0)})
        return check


class Sink(BaseActor):
    """Stands in for market data (the prices step tells it ``sync_prices``)."""

    name = "market_data"

    def __init__(self, ctx: ActorContext, seen: list[Any]) -> None:
        super().__init__(ctx)
        self.seen = seen

    @handles(RunJob)
    def _keep(self, msg: RunJob) -> None:
        self.seen.append(msg)


@dataclass
class Rig:
    io: IoLoop
    store: SqliteStore
    bus: ActorBus
    broker: PaperBroker
    seen: list[Any]
    answers: dict[str, Any]

    def cycle(self) -> JobOutcome:
        outcome = self.bus.ask("portfolio", RunJob("sync_cycle", "cyc"), 60)
        assert isinstance(outcome, JobOutcome)
        return outcome

    def names(self) -> list[str]:
        """What the fakes received, in order (after market data drained its mailbox:
        the prices step is a tell)."""
        self.bus.ask("market_data", Ping(START), 10)
        return [m.job if isinstance(m, RunJob) else type(m).__name__ for m in self.seen]


def _context(io: IoLoop, store: SqliteStore, bus: ActorBus,
             mode: str = "research") -> tuple[ActorContext, PaperBroker]:
    clock = ManualClock(START)
    broker = PaperBroker(store, clock, fees=lambda: PaperFees(Decimal(0), Decimal(0)),
                         initial_cash_eur=Decimal("1000"))
    market_repo.write_fx(store, [FxRate("USD", Decimal("0.9"), START.date(), START,
                                               "t")], START)
    settings = load_settings(None, environ={}).with_overrides({"trading_mode": mode})
    ctx = ActorContext(bus=bus, io=io, clock=clock, settings=lambda: settings,
                       deps=wired(store=store, broker=broker, paper_broker=broker))
    return ctx, broker


@pytest.fixture
def rig(io: IoLoop, store: SqliteStore, bus: ActorBus) -> Iterator[Rig]:
    ctx, broker = _context(io, store, bus)
    seen: list[Any] = []
    answers: dict[str, Any] = {}
    release = threading.Event()
    refs: list[pykka.ActorRef[Any]] = [FakeCashFlows.start(ctx, seen, answers, release),
                                       Sink.start(ctx, seen), PortfolioActor.start(ctx)]
    for name, ref in zip(("cash_flows", "market_data", "portfolio"), refs, strict=True):
        bus.register(name, ref)
    bus.ask("portfolio", Ping(START), 10)
    yield Rig(io, store, bus, broker, seen, answers)
    release.set()
    for ref in refs:
        ref.stop()


def test_steps_run_in_order_and_a_sound_balance_runs_no_repair(rig: Rig) -> None:
    outcome = rig.cycle()
    steps = outcome.details["steps"]
    assert outcome.ok, outcome.summary
    assert {k: v["status"] for k, v in steps.items()} == {
        "trades": "ok", "cash_flows": "ok", "portfolio": "ok", "emergency": "ok",
        "prices": "ok"}
    assert rig.names() == ["cash_flow_sync", "CheckBalances", "sync_prices"]
    assert rig.seen[0].run_id == "cyc:cash_flows"
    assert not steps["cash_flows"]["critical"] and not steps["emergency"]["critical"]
    assert steps["emergency"]["check"]["has_negative"] is False


def test_a_thin_balance_runs_the_repair_through_the_cash_flow_actor(rig: Rig) -> None:
    rig.answers["check"] = {"has_negative": True, "below_minimum": True,
                            "shortfalls": {"USD": Decimal("105")},
                            "total_shortfall_eur": Decimal("94.5")}
    rig.answers["emergency_rebalance"] = JobOutcome(True, "resolved: 1 sale placed",
                                                    {"outcome": "resolved"})
    outcome = rig.cycle()
    assert outcome.ok, outcome.summary
    assert rig.names() == ["cash_flow_sync", "CheckBalances", "emergency_rebalance",
                           "sync_prices"]
    emergency = outcome.details["steps"]["emergency"]
    assert emergency["status"] == "ok" and "resolved" in emergency["summary"]
    assert emergency["run"] == {"outcome": "resolved"}
    assert emergency["check"]["total_shortfall_eur"] == "94.5"


def test_failing_non_critical_steps_are_reported_and_the_cycle_goes_on(rig: Rig) -> None:
    rig.answers["cash_flow_sync"] = JobOutcome(False, "failed sources: cps",
                                               {"failed_sources": {"cps": "boom"}})
    rig.answers["check"] = {"has_negative": True, "below_minimum": True, "shortfalls": {}}
    rig.answers["emergency_rebalance"] = JobOutcome(False, "unresolved: USD short")
    outcome = rig.cycle()
    steps = outcome.details["steps"]
    assert not outcome.ok and outcome.details["failed"] == ["cash_flows", "emergency"]
    assert steps["cash_flows"]["failed_sources"] == {"cps": "boom"}
    assert steps["portfolio"]["status"] == steps["prices"]["status"] == "ok"
    assert rig.names()[-1] == "sync_prices"


def test_a_broker_error_in_the_check_fails_only_the_emergency_step(rig: Rig) -> None:
    rig.answers["check"] = {"error": "broker_unavailable", "message": "down"}
    outcome = rig.cycle()
    emergency = outcome.details["steps"]["emergency"]
    assert emergency["status"] == "failed" and "down" in emergency["summary"]
    assert outcome.details["failed"] == ["emergency"]
    assert "emergency_rebalance" not in rig.names()


def test_a_missing_rate_defers_the_check_unless_a_balance_is_negative(rig: Rig) -> None:
    """At start-up the cycle may run before the first FX sync: with nothing negative the
    check waits for the next cycle (skipped, the cycle ok); a negative balance whose
    shortfall cannot be valued still fails the step."""
    rig.answers["check"] = {"error": "missing_rate", "message": "no EUR rate for USD at now"}
    outcome = rig.cycle()
    emergency = outcome.details["steps"]["emergency"]
    assert outcome.ok, outcome.summary
    assert emergency["status"] == "skipped"
    assert emergency["summary"] == "waiting for FX rates: no EUR rate for USD at now"
    rig.store.execute("UPDATE paper_cash SET amount = '-50' WHERE currency = 'EUR'")
    outcome = rig.cycle()
    emergency = outcome.details["steps"]["emergency"]
    assert emergency["status"] == "failed" and "NEGATIVE cash: EUR -50" in emergency["summary"]
    assert outcome.details["failed"] == ["emergency"]
    assert "emergency_rebalance" not in rig.names()


def test_a_locked_emergency_run_is_busy_not_failed(rig: Rig) -> None:
    rig.answers["check"] = {"has_negative": True, "below_minimum": True, "shortfalls": {}}
    rig.answers["emergency_rebalance"] = JobOutcome(False, "an emergency run is running",
                                                    {"locked": True})
    outcome = rig.cycle()
    assert outcome.ok and outcome.details["steps"]["emergency"]["status"] == "busy"


def test_a_slow_cash_flow_actor_makes_the_step_busy_without_blocking(
        rig: Rig, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(portfolio_actor, "CASH_FLOW_SYNC_TIMEOUT_S", 0.3)
    monkeypatch.setattr(portfolio_actor, "BALANCE_CHECK_TIMEOUT_S", 0.3)
    rig.answers["slow"] = True
    outcome = rig.cycle()
    steps = outcome.details["steps"]
    assert outcome.ok, outcome.summary  # busy is not a failure
    assert steps["cash_flows"]["status"] == "busy"
    assert steps["portfolio"]["status"] == steps["prices"]["status"] == "ok"
    assert steps["emergency"]["status"] == "busy"  # queued behind the slow sync


def test_a_running_cash_flow_job_is_left_alone(rig: Rig) -> None:
    rig.store.execute(
        "INSERT INTO job_runs (run_id, job, trigger, started_at) VALUES "
        "('r1', 'dividend_reinvestment', 'schedule', ?)", (int(START.timestamp()) - 60,))
    outcome = rig.cycle()
    steps = outcome.details["steps"]
    assert steps["cash_flows"]["status"] == steps["emergency"]["status"] == "busy"
    assert "dividend_reinvestment" in steps["cash_flows"]["summary"]
    assert rig.names() == ["sync_prices"]  # nothing queued behind the running job
    # An unfinished row older than every cash-flow job's timeout is a stale record.
    rig.store.execute("UPDATE job_runs SET started_at = ? WHERE run_id = 'r1'",
                                 (int(START.timestamp()) - 3600,))
    assert rig.cycle().details["steps"]["cash_flows"]["status"] == "ok"


def test_end_to_end_with_the_cash_flow_actor_on_the_paper_broker(
        io: IoLoop, store: SqliteStore, bus: ActorBus) -> None:
    ctx, broker = _context(io, store, bus)
    seen: list[Any] = []
    refs: list[pykka.ActorRef[Any]] = [CashFlowActor.start(ctx), Sink.start(ctx, seen),
                                       PortfolioActor.start(ctx)]
    for name, ref in zip(("cash_flows", "market_data", "portfolio"), refs, strict=True):
        bus.register(name, ref)
    try:
        io.run(broker.deposit("USD", Decimal("-50")), 10)  # a negative USD balance
        outcome = bus.ask("portfolio", RunJob("sync_cycle", "e2e"), 60)
        steps = outcome.details["steps"]
        assert steps["cash_flows"]["status"] == "ok", steps["cash_flows"]
        assert steps["cash_flows"]["deposits_processed"] == 1  # the opening deposit
        flows = store.fetch_all("SELECT transaction_id FROM cash_flows")
        assert sorted(r["transaction_id"] for r in flows) == ["ucf:paper-1", "ucf:paper-2"]
        emergency = steps["emergency"]
        assert emergency["check"]["has_negative"] is True
        assert "NEGATIVE cash: USD -50" in emergency["summary"]
        runs = store.fetch_all("SELECT mode, run_id FROM emergency_runs")
        assert [(r["mode"], r["run_id"]) for r in runs] == [("research", "e2e:emergency")]
        again = bus.ask("portfolio", RunJob("sync_cycle", "e2e-2"), 60)
        assert again.details["steps"]["cash_flows"]["synced"] == 0  # nothing twice
        assert len(store.fetch_all("SELECT * FROM cash_flows")) == 2
    finally:
        for ref in refs:
            ref.stop()
