"""The cash-flow actor against the Tradernet sandbox: a deposit arrives and is stored
once and allocated to core, re-syncs change nothing, a foreign deposit waits for its FX
rate (never 1:1), a failing source is reported and deletes nothing; emergency runs
record their plan in research mode and never overlap; DRIP consumes euros only on a
confirmed fill, at most once."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pykka
import pytest
import structlog.testing
from broker_support import make_client, running_sandbox

from arduino_trader.actors import cash_flow_ledger
from arduino_trader.actors.base import ActorContext, RuntimeContext
from arduino_trader.actors.cash_flows import CashFlowActor
from arduino_trader.adapters.clock import ManualClock
from arduino_trader.adapters.market_data.calendars import MarketCalendars
from arduino_trader.adapters.sandbox.server import SandboxThread
from arduino_trader.adapters.store import (
    dividend_repo,
    emergency_recs,
    emergency_runs_repo,
    market_repo,
    securities_repo,
)
from arduino_trader.adapters.store.cash_flow_repo import SqliteCashFlowStore
from arduino_trader.adapters.store.sqlite import SqliteStore
from arduino_trader.adapters.tradernet import reads as tradernet_reads
from arduino_trader.config.settings import Settings, load_settings
from arduino_trader.daemon.bus import ActorBus
from arduino_trader.daemon.io_loop import IoLoop
from arduino_trader.domain.emergency import Sale
from arduino_trader.protocols.broker import CashFlow
from arduino_trader.protocols.cash_flow_store import SeenFlow
from arduino_trader.protocols.cash_flows import (
    CheckBalances,
    DepositReceived,
    DividendReceived,
    WithdrawalRecorded,
)
from arduino_trader.protocols.execution import TradeExecuted
from arduino_trader.protocols.market_data import FxRate
from arduino_trader.protocols.messages import JobOutcome, Ping, RunJob
from tests.wiring import wired

D = Decimal
START = datetime(2026, 3, 10, 11, 0, tzinfo=UTC)  # a Tuesday: Xetra open
VWCE = ("IE00BK5BQT80", "VWCE.EU")
AAPL = ("US0378331005", "AAPL.US")


class _Collector(pykka.ThreadingActor):
    def __init__(self, sink: list[Any]) -> None:
        super().__init__()
        self.sink = sink

    def on_receive(self, message: Any) -> None:
        self.sink.append(message)


@dataclass
class Rig:
    io: IoLoop
    store: SqliteStore
    bus: ActorBus
    clock: ManualClock
    sandbox: SandboxThread
    settings: Settings
    events: list[Any]
    broker: Any

    def start(self) -> None:
        ctx = ActorContext(bus=self.bus, io=self.io, clock=self.clock,
                           settings=lambda: self.settings,
                           deps=wired(store=self.store, broker=self.broker,
                                      paper_broker=self.broker,
                                      calendars=MarketCalendars(today=START.date())))
        self.bus.register("cash_flows", CashFlowActor.start(ctx))

    def job(self, name: str) -> JobOutcome:
        outcome = self.bus.ask("cash_flows", RunJob(name, f"run-{len(self.events)}-"
                                                    f"{self.clock.now().timestamp()}"), 60)
        assert isinstance(outcome, JobOutcome)
        return outcome

    def rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[Any]:
        return self.store.fetch_all(sql, params)

    def flush(self) -> list[Any]:
        self.bus.ask("cash_flows", Ping(self.clock.now()), 10)  # mailbox drained
        return [e for e in self.events if not isinstance(e, Ping)]


class FlakyBroker:
    """The sandbox client, with client requests failing while ``fail_cps`` is set."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.fail_cps = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def client_requests(self, start: datetime, end: datetime) -> Any:
        if self.fail_cps:
            from arduino_trader.protocols.broker_errors import BrokerUnavailable
            raise BrokerUnavailable("getClientCpsHistory: 502")
        return await self.inner.client_requests(start, end)


@pytest.fixture
def rig(io: IoLoop, store: SqliteStore) -> Iterator[Rig]:
    clock = ManualClock(START)
    with running_sandbox(wall_time=lambda: clock.now().timestamp()) as sandbox:
        client = make_client(sandbox.url, wall_time=lambda: clock.now().timestamp())
        settings = load_settings(None, environ={}).with_overrides({"trading_mode": "research"})
        bus = ActorBus()
        events: list[Any] = []
        bus.register("collector", _Collector.start(events))
        for kind in (DepositReceived, DividendReceived, WithdrawalRecorded):
            bus.subscribe(kind, "collector")
        r = Rig(io, store, bus, clock, sandbox, settings, events, FlakyBroker(client))
        r.start()
        yield r
        io.run(client.close(), 5)


def _core_eur(rig: Rig) -> Decimal:
    row = rig.rows("SELECT balance FROM bucket_balances WHERE bucket_id = 'core' "
                   "AND currency = 'EUR'")
    return D(row[0]["balance"]) if row else D(0)


def test_a_deposit_is_stored_once_and_allocated_to_core(rig: Rig) -> None:
    first = rig.job("cash_flow_sync")
    assert first.ok, first
    assert first.details["deposits_processed"] == 1  # the sandbox's opening deposit
    rig.sandbox.sandbox.account.deposit("EUR", D("1500.00"), rig.clock.now())
    rig.clock.advance(60)
    second = rig.job("cash_flow_sync")
    assert second.ok and second.details["synced"] == 1, second
    assert second.details["deposits_processed"] == 1
    deposits = [e for e in rig.flush() if isinstance(e, DepositReceived)]
    assert [(e.amount, e.currency, e.allocations) for e in deposits][-1] == (
        D("1500.00"), "EUR", (("core", D("1500.00")),))
    (row,) = rig.rows("SELECT * FROM cash_flows WHERE amount = '1500'")
    assert row["kind"] == "deposit" and D(row["amount_eur"]) == D("1500.00")
    assert row["processed_at"] is not None
    assert cash_flow_repo_ledger(rig, row["transaction_id"]) == [
        ("core", "deposit", D("1500.00"), "EUR")]
    assert _core_eur(rig) == D("11500.00")
    before = rig.rows("SELECT COUNT(*) AS n FROM cash_flows")[0]["n"]
    for _ in range(2):  # re-syncs change nothing
        again = rig.job("cash_flow_sync")
        assert again.ok and again.details["synced"] == 0 and \
            again.details["deposits_processed"] == 0
    assert rig.rows("SELECT COUNT(*) AS n FROM cash_flows")[0]["n"] == before
    assert rig.rows("SELECT COUNT(*) AS n FROM bucket_transactions")[0]["n"] == 2
    assert _core_eur(rig) == D("11500.00")
    assert len([e for e in rig.flush() if isinstance(e, DepositReceived)]) == 2


def test_a_resync_asks_the_store_only_about_records_not_seen_settled(
        rig: Rig, monkeypatch: pytest.MonkeyPatch) -> None:
    """Records a sync found stored and unchanged are not looked up again while the broker
    shows the same facts; a new record is, and is stored once."""

    asked: list[list[str]] = []
    real = SqliteCashFlowStore.seen_flows

    def counting(self: SqliteCashFlowStore, keys: list[str]) -> dict[str, SeenFlow]:
        asked.append(list(keys))
        return real(self, keys)

    monkeypatch.setattr(SqliteCashFlowStore, "seen_flows", counting)
    assert rig.job("cash_flow_sync").ok  # stores the sandbox's history
    assert rig.job("cash_flow_sync").ok  # finds every record stored and unchanged
    asked.clear()
    assert rig.job("cash_flow_sync").ok
    assert asked == []  # nothing to ask: every record is settled
    rig.sandbox.sandbox.account.deposit("EUR", D("250.00"), rig.clock.now())
    rig.clock.advance(60)
    outcome = rig.job("cash_flow_sync")
    assert outcome.ok and outcome.details["synced"] == 1
    assert len(asked) == 1 and len(asked[0]) == 1  # only the new deposit
    assert len(rig.rows("SELECT * FROM cash_flows WHERE amount = '250'")) == 1


def cash_flow_repo_ledger(rig: Rig, key: str) -> list[tuple[str, str, Decimal, str]]:
    return [(e.bucket_id, e.type, e.amount, e.currency)
            for e in SqliteCashFlowStore(rig.store).bucket_ledger(key)]


def test_a_foreign_deposit_waits_for_its_rate_never_one_to_one(rig: Rig) -> None:
    rig.sandbox.sandbox.account.deposit("USD", D("200.00"), rig.clock.now())
    outcome = rig.job("cash_flow_sync")
    assert len(outcome.details["missing_rate"]) == 1
    assert not rig.rows("SELECT * FROM cash_flows WHERE currency = 'USD'")
    market_repo.write_fx(rig.store, [
        FxRate("USD", D("0.92"), START.date(), START, "test")], START)
    outcome = rig.job("cash_flow_sync")
    assert outcome.ok and outcome.details["synced"] == 1
    (row,) = rig.rows("SELECT * FROM cash_flows WHERE currency = 'USD'")
    assert (D(row["amount"]), D(row["amount_eur"])) == (D("200.00"), D("184.00"))
    # credited in the currency the broker holds: USD, never the EUR figure
    assert cash_flow_repo_ledger(rig, row["transaction_id"]) == [
        ("core", "deposit", D("200.00"), "USD")]


def test_a_failing_source_is_reported_and_deletes_nothing(rig: Rig) -> None:
    assert rig.job("cash_flow_sync").ok
    stored = rig.rows("SELECT transaction_id FROM cash_flows ORDER BY id")
    rig.broker.fail_cps = True
    rig.sandbox.sandbox.account.deposit("EUR", D("250.00"), rig.clock.now())
    outcome = rig.job("cash_flow_sync")
    assert not outcome.ok and "cps" in outcome.details["failed_sources"]
    assert "failed sources: cps" in outcome.summary
    assert outcome.details["deposits_processed"] == 1  # the other sources still count
    after = rig.rows("SELECT transaction_id FROM cash_flows ORDER BY id")
    assert after[:len(stored)] == stored and len(after) == len(stored) + 1


def test_broker_down_is_not_ok_and_writes_nothing(rig: Rig) -> None:
    rig.sandbox.sandbox.inject("http_error", times=50)
    outcome = rig.job("cash_flow_sync")
    assert not outcome.ok and outcome.details["broker_unavailable"]
    assert not rig.rows("SELECT * FROM cash_flows")


def _seed_vwce(rig: Rig) -> None:
    securities_repo.insert_security(rig.store, {
        "isin": VWCE[0], "symbol": VWCE[1], "name": "Vanguard FTSE All-World",
        "currency": "EUR", "mic": "XETR"}, START)
    market_repo.write_fx(rig.store, [
        FxRate("USD", D("0.92"), START.date(), START, "test"),
        FxRate("HKD", D("0.118"), START.date(), START, "test")], START)


def test_negative_balance_check_reads_the_account(rig: Rig) -> None:
    _seed_vwce(rig)
    answer = rig.bus.ask("cash_flows", CheckBalances(), 30)
    assert answer["has_negative"] and answer["below_minimum"]
    assert answer["shortfalls"] == {"HKD": D("17.50")}  # sandbox HKD is −12.50
    assert answer["total_shortfall_eur"] == D("2.07")


def test_research_mode_records_the_emergency_plan_and_sends_nothing(rig: Rig) -> None:
    _seed_vwce(rig)
    securities_repo.insert_security(rig.store, {
        "isin": AAPL[0], "symbol": AAPL[1], "name": "Apple", "currency": "USD",
        "mic": "XNAS"}, START)
    rig.sandbox.sandbox.account.deposit("USD", D("-2600.00"), rig.clock.now())  # USD −100
    rig.clock.advance(4 * 3600)  # 15:00 UTC: Nasdaq and Xetra both tradable
    with structlog.testing.capture_logs() as logs:
        outcome = rig.job("emergency_rebalance")
    assert outcome.ok and outcome.details["outcome"] == "unresolved", outcome
    # a rehearsal's shortfall is a warning: "level error" stays for real money
    assert [e["log_level"] for e in logs if e["event"] == "emergency_shortfall"] == ["warning"]
    (run,) = emergency_runs_repo.list_emergency_runs(rig.store)
    assert run["mode"] == "research" and run["outcome"] == "unresolved"
    assert {k: D(v) for k, v in run["initial_shortfalls"].items()} == {
        "HKD": D("17.50"), "USD": D("105.00")}
    # the live plan, recorded: exchanges from EUR cover both shortfalls, so no sale
    exchanges = [a for a in run["actions"] if a["kind"] == "exchange"]
    assert {(a["sell_currency"], a["buy_currency"]) for a in exchanges} == {
        ("EUR", "USD"), ("EUR", "HKD")}
    assert all(a["status"] == "recorded" and a["step"] == 1 for a in run["actions"])
    assert not [a for a in run["actions"] if a["kind"] == "sale"]
    assert rig.sandbox.sandbox.account.state["orders"] == []


def test_an_emergency_run_never_overlaps_another(rig: Rig) -> None:
    _seed_vwce(rig)
    emergency_runs_repo.start_emergency_run(rig.store, "stuck", "live", "sync",
                                            START)
    outcome = rig.job("emergency_rebalance")
    assert not outcome.ok and outcome.details["locked"]
    runs = emergency_runs_repo.list_emergency_runs(rig.store)
    assert [r["run_id"] for r in runs] == ["stuck"]


def _fill(key: str, qty: str, price: str, source: str = "drip") -> TradeExecuted:
    return TradeExecuted(key, VWCE[0], VWCE[1], "BUY", D(qty), D(price), "EUR", START,
                         source, "core", "research")


def test_drip_consumes_dividend_euros_only_on_fills_and_once(rig: Rig) -> None:
    _seed_vwce(rig)
    dividend_id = dividend_repo.create_dividend(rig.store, {
        "symbol": VWCE[1], "isin": VWCE[0], "amount": D("300.00"), "currency": "EUR",
        "amount_eur": D("300.00"), "payment_date": date(2026, 3, 2).isoformat()}, START)
    rig.bus.tell("cash_flows", _fill("research:1", "2", "100", source="autonomous"))
    rig.flush()
    assert rig.rows("SELECT * FROM dividend_allocations") == []  # not a DRIP fill
    rig.bus.tell("cash_flows", _fill("research:2", "2", "100"))
    rig.bus.tell("cash_flows", _fill("research:2", "2", "100"))  # replayed fill
    rig.flush()
    (div,) = rig.rows("SELECT * FROM dividend_history WHERE id = ?", (dividend_id,))
    assert (D(div["allocated_eur"]), div["reinvested"]) == (D("200.00"), 0)
    rig.bus.tell("cash_flows", _fill("research:3", "1", "150"))
    rig.flush()
    (div,) = rig.rows("SELECT * FROM dividend_history WHERE id = ?", (dividend_id,))
    assert (D(div["allocated_eur"]), div["reinvested"]) == (D("300.00"), 1)
    consumed = rig.rows("SELECT amount_eur FROM dividend_allocations ORDER BY id")
    assert [D(r["amount_eur"]) for r in consumed] == [D("200.00"), D("100.00")]


def test_no_shortfall_dismisses_stale_emergency_recommendations(rig: Rig) -> None:
    rig.sandbox.sandbox.account.deposit("HKD", D("100"), rig.clock.now())  # nothing short
    ts = int(START.timestamp())
    rig.store.execute(
        "INSERT INTO plans (id, portfolio_hash, status, reason, trigger, result_json, "
        "duration_ms, created_at) VALUES (1, 'h', 'plan', 'r', 't', '{}', 1, ?)", (ts,))
    rig.store.execute(
        "INSERT INTO recommendations (uuid, plan_id, step, symbol, isin, side, quantity, "
        "estimated_price, estimated_value, cost_eur, currency, reason, priority, "
        "score_before, score_after, status, portfolio_hash, created_at, updated_at) "
        "VALUES ('u0', 1, 1, 'VWCE.EU', ?, 'SELL', 1, '100', '100', '2', 'EUR', 'r', 1, "
        "0, 0, 'pending', 'normal', ?, ?)", (VWCE[0], ts, ts))
    sale = Sale(VWCE[1], 1, D("100"), "EUR", "XETR", D("100"), D("100"))
    emergency_recs.propose(rig.store, emergency_recs.Proposal(
        "s1", {"EUR": D("7")}, "r0", "research", [sale], {VWCE[1]: VWCE[0]}), START)
    outcome = rig.job("emergency_rebalance")
    assert outcome.ok and outcome.details["outcome"] == "no_shortfall", outcome
    (emergency,) = rig.rows("SELECT status, dismissed_by FROM emergency_recommendations")
    assert (emergency["status"], emergency["dismissed_by"]) == ("dismissed", "resolved")
    # the planner's recommendations are not the emergency run's to dismiss
    assert [r["status"] for r in rig.rows("SELECT status FROM recommendations")] == [
        "pending"]


def test_concentration_alerts_are_listed_in_the_job_outcome(rig: Rig) -> None:
    _seed_vwce(rig)
    securities_repo.insert_security(rig.store, {
        "isin": AAPL[0], "symbol": AAPL[1], "name": "Apple", "currency": "USD",
        "mic": "XNAS", "country": "United States", "industry": "Technology"}, START)
    outcome = rig.job("concentration_check")
    assert outcome.ok, outcome
    alerts = {(a["type"], a["name"]): a for a in outcome.details["alerts"]}
    # Shares of the whole account (positions and every cash balance in EUR): VWCE is
    # over the 15 % position limit; AAPL, above it as a share of the invested value
    # alone, is under the 12 % alert threshold once the cash counts.
    assert alerts[("position", VWCE[1])]["severity"] == "critical"
    assert alerts[("position", VWCE[1])]["needs_action"] is True
    assert ("position", AAPL[1]) not in alerts
    assert ("country", "OTHER") not in alerts  # unmapped is not a country
    assert "critical position VWCE.EU" in outcome.summary


def test_bad_records_are_rejected_unknown_types_held_and_the_rest_is_stored(rig: Rig) -> None:
    flows = rig.sandbox.sandbox.account.state["cash_flows"]
    stamp = START.strftime("%Y-%m-%dT%H:%M:%S")
    flows += [
        {"id": "bad-1", "type_code": "mystery", "sum": "10.00", "currency": "EUR",
         "date": stamp, "comment": "unknown type"},
        {"id": "bad-2", "type_code": "card", "sum": "10.00", "currency": "XYZ",
         "date": stamp, "comment": "unknown currency"},
        {"id": "ok-comma", "type_code": "card", "sum": "1234,56", "currency": "EUR",
         "date": stamp, "comment": "comma decimal"},
    ]
    outcome = rig.job("cash_flow_sync")
    assert (outcome.details["rejected"], outcome.details["needs_review"]) == (1, 1), outcome
    stored = {r["transaction_id"]: r for r in rig.rows("SELECT * FROM cash_flows")}
    assert "ucf:bad-2" not in stored
    # an unknown type is held for review: stored, and no ledger entry moves its money
    assert stored["ucf:bad-1"]["transaction_type"] == "mystery"
    assert not rig.rows("SELECT * FROM bucket_transactions WHERE source_id = 'ucf:bad-1'")
    assert D(stored["ucf:ok-comma"]["amount"]) == D("1234.56")
    again = rig.job("cash_flow_sync")
    assert again.details["synced"] == 0 and again.details["rejected"] == 1


def test_each_trading_charge_is_one_cash_flow_row(rig: Rig) -> None:
    """A fill's commission is one ledger row: the broker's ``commission_for_trades`` row,
    attributed to its trade; it is not counted again from the trade history."""
    box = rig.sandbox.sandbox
    box.execute("putTradeOrder", {"instr_name": "AAPL.US", "action_id": 1, "order_type_id": 1,
                                  "qty": 4, "expiration_id": 3, "user_order_id": 77})
    for _ in range(4):
        box.account.advance(box.now())
    trades = [str(t["id"]) for t in box.account.state["trades"]]
    assert len(trades) == 2  # a partial fill, then the rest: two charges
    market_repo.write_fx(rig.store, [
        FxRate("USD", D("0.92"), START.date(), START, "test")], START)
    assert rig.job("cash_flow_sync").ok
    fees = rig.rows("SELECT transaction_id, transaction_type, amount, description FROM "
                    "cash_flows WHERE transaction_type LIKE '%commission%' OR "
                    "transaction_type LIKE '%fee%'")
    assert len(fees) == len(trades), fees
    assert sorted(str(r["transaction_type"]) for r in fees) == ["commission_for_trades"] * 2
    charged = sorted(-D(t["_fee"]) for t in box.account.state["trades"])
    assert sorted(D(r["amount"]) for r in fees) == charged
    # stored for audit only: the fee is settled with its trade, never from this row
    keys = tuple(str(r["transaction_id"]) for r in fees)
    assert not rig.rows("SELECT * FROM bucket_transactions WHERE source_id IN (?, ?)", keys)


def test_rows_held_for_review_degrade_health_with_the_reason(rig: Rig) -> None:
    """A documented code without a sure ledger rule, and an undocumented one, are stored
    without effect and keep health degraded while the broker's history holds them."""
    from arduino_trader.actors.health import HealthActor
    from arduino_trader.protocols.messages import GetHealth, HealthReport

    ctx = RuntimeContext(bus=rig.bus, io=rig.io, clock=rig.clock, settings=lambda: rig.settings)
    rig.bus.register("health", HealthActor.start(ctx, expected=(), run_checks=dict))
    assert rig.job("cash_flow_sync").ok

    def health() -> HealthReport:
        rig.flush()
        report = rig.bus.ask("health", GetHealth(), 10)
        assert isinstance(report, HealthReport)
        return report

    assert health().components["cash_flow_review"]["level"] == "ok"
    stamp = START.strftime("%Y-%m-%d")
    rig.sandbox.sandbox.account.state["cash_flows"] += [
        {"id": "cc-1", "type_code": "currency_conversion", "sum": "-100.00", "currency": "EUR",
         "date": stamp, "comment": "conversion"},
        {"id": "zz-1", "type_code": "brand_new_code", "sum": "7.00", "currency": "EUR",
         "date": stamp, "comment": ""}]
    core_before = _core_eur(rig)
    outcome = rig.job("cash_flow_sync")
    assert outcome.details["needs_review"] == 2, outcome
    report = health()
    component = report.components["cash_flow_review"]
    assert report.level == "degraded" and component["level"] == "degraded"
    assert "ucf:cc-1" in component["message"] and "ucf:zz-1" in component["message"]
    assert _core_eur(rig) == core_before  # held: no money moved
    assert rig.job("cash_flow_sync").details["synced"] == 0  # and still held next sync
    assert health().components["cash_flow_review"]["level"] == "degraded"


def test_client_requests_are_read_page_by_page(rig: Rig,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """``getClientCpsHistory`` is paged (limit/offset): every executed withdrawal on
    every page is booked, each once."""
    monkeypatch.setattr(tradernet_reads, "CPS_PAGE_SIZE", 2)
    account = rig.sandbox.sandbox.account
    with account.lock:
        account.state["cps"] = [
            {"id": 5100 + i, "type_doc_id": 337, "date_crt": "2026-03-09 10:00:00",
             "status_c": 3, "params": {"totalMoneyOut": "10.00", "currency": "EUR"}}
            for i in range(5)]
    before = list(rig.sandbox.sandbox.requests).count("getClientCpsHistory")
    outcome = rig.job("cash_flow_sync")
    assert outcome.ok, outcome
    assert list(rig.sandbox.sandbox.requests).count("getClientCpsHistory") - before == 3
    debits = rig.rows("SELECT source_id, amount FROM bucket_transactions "
                      "WHERE source_id LIKE 'cps:51%' ORDER BY source_id")
    assert [(d["source_id"], D(d["amount"])) for d in debits] == [
        (f"cps:{5100 + i}", D("-10.00")) for i in range(5)]


def test_a_server_answering_shorter_pages_than_asked_has_everything_read(
        rig: Rig) -> None:
    """A server may cap a page below what was asked: a short page is not the end of the
    ledger or of the client requests, an empty one (or the answer's total) is."""
    account = rig.sandbox.sandbox.account
    for i in range(5):
        account.deposit("EUR", D("100"), rig.clock.now(), comment=f"card top-up {i}")
    with account.lock:
        account.state["page_cap"] = 2
        account.state["cps"] = [
            {"id": 5200 + i, "type_doc_id": 337, "date_crt": "2026-03-09 10:00:00",
             "status_c": 3, "params": {"totalMoneyOut": "10.00", "currency": "EUR"}}
            for i in range(5)]
    outcome = rig.job("cash_flow_sync")
    assert outcome.ok, outcome
    with account.lock:
        ledger_ids = {f"ucf:{row['id']}" for row in account.state["cash_flows"]}
    stored = {r["transaction_id"] for r in rig.rows("SELECT transaction_id FROM cash_flows")}
    assert ledger_ids <= stored and len(ledger_ids) > 2  # every ledger row, not one page
    debits = rig.rows("SELECT source_id FROM bucket_transactions "
                      "WHERE source_id LIKE 'cps:52%' ORDER BY source_id")
    assert [d["source_id"] for d in debits] == [f"cps:{5200 + i}" for i in range(5)]
    assert rig.job("cash_flow_sync").details["synced"] == 0  # and each once


class EndlessLedger(FlakyBroker):
    """A ledger that answers every page full: more rows than the sync reads."""

    async def cash_flows(self, take: int = 500, skip: int = 0) -> tuple[CashFlow, ...]:
        return tuple(CashFlow(f"e{skip + i}", "card", D("1.00"), "EUR", START)
                     for i in range(take))


def test_a_ledger_longer_than_the_sync_reads_fails_the_source_not_shortened(
        rig: Rig, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cash_flow_ledger, "MAX_PAGES", 3)
    rig.bus.ref("cash_flows").stop()
    rig.broker = EndlessLedger(rig.broker.inner)
    rig.start()
    outcome = rig.job("cash_flow_sync")
    assert not outcome.ok and "user_cash_flow" in outcome.details["failed_sources"]
    assert rig.rows("SELECT * FROM cash_flows WHERE transaction_id LIKE 'ucf:e%'") == []
