"""Execute-rebalance refuses a bucket whose ledger cash cannot pay for its trades (fees
included), before anything is journaled or sent: the satellite's money is its own."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from daemon_harness import Client, ProbeDaemon, start_daemon, wait_for

from arduino_trader.adapters.clock import ManualClock
from arduino_trader.adapters.store import order_journal, plan_repo
from arduino_trader.daemon.api import order_guard
from arduino_trader.domain.planner.models import PlanResult
from arduino_trader.protocols.execution import OrderIntent, OrderResult, SubmitOrder

QUIET = {"ARDUINO_TRADER_PLANNER_DEBOUNCE_SECONDS": "3600",
         "ARDUINO_TRADER_JOB_PLANNER_MINUTES": "1440",
         "ARDUINO_TRADER_JOB_AUTONOMOUS_EXECUTION_ENABLED": "false"}
AAPL, AMD = "US0378331005", "US0079031078"


def _scalar(d: ProbeDaemon, sql: str) -> int:
    row = d.store.fetch_one(sql)
    assert row is not None
    return int(row[0])


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[ProbeDaemon]:
    order_guard.clear_rate_limits()
    clock = ManualClock(datetime(2022, 12, 20, 15, 0, tzinfo=UTC))  # NYSE open
    d = start_daemon(tmp_path / "state", env=QUIET, clock=clock)
    try:
        wait_for(lambda: _scalar(d, "SELECT COUNT(*) FROM job_runs WHERE job = "
                                    "'sync_securities_data' AND finished_at IS NOT NULL") >= 1
                 and _scalar(d, "SELECT COUNT(*) FROM fx_rates WHERE currency = 'USD'") >= 1,
                 90, "bundled history and FX")
        paper = d._broker_pair()[1]
        d.io.run(paper.deposit("USD", Decimal("20000")), 10)
        d.io.run(paper.deposit("EUR", Decimal("10000")), 10)
        yield d
    finally:
        d.stop()


TABLES = ("order_journal", "trades", "fx_journal")


def _counts(d: ProbeDaemon) -> dict[str, int]:
    out = {}
    for table in TABLES:
        try:
            out[table] = _scalar(d, f"SELECT COUNT(*) FROM {table}")
        except Exception:  # a table another area may name differently
            continue
    return out


def _satellite_owning_amd(d: ProbeDaemon, api: Client) -> None:
    """sat1 (10 % of the account) owns AMD and planned it; its ledger holds no cash,
    core holds the broker's USD."""
    for method, path, body, expected in (
            ("PUT", "/api/satellites/settings/satellite-budget?budget_pct=0.2", None, 200),
            ("POST", "/api/satellites/satellites", {"id": "sat1", "name": "Sat"}, 201),
            ("PATCH", "/api/satellites/buckets/sat1", {"target_pct": "0.1"}, 200),
            ("PUT", f"/api/satellites/securities/{AMD}/bucket", {"bucket_id": "sat1"}, 200),
            ("POST", "/api/satellites/reconcile/initialize", None, 200)):
        code, answer = api.call(method, path, body)
        assert code == expected, (path, code, answer)
    plan_repo.store_plan(
        d.store, PlanResult("nothing_to_do", "core holds", target_weights={}), "h", "test",
        {}, 1.0, d.clock.now(), satellites=[("sat1", PlanResult(
            "nothing_to_do", "sat1 wants AMD", target_weights={"AMD.US": 1.0}))])


def test_a_bucket_without_ledger_cash_is_refused_before_anything_is_sent(
        daemon: ProbeDaemon) -> None:
    api = Client(daemon)
    _satellite_owning_amd(daemon, api)
    code, view = api.call("GET", "/api/rebalancing/calculate-trades")
    assert code == 200, view
    buys = [t for t in view["trades"] if t["side"] == "BUY"]
    assert [(t["symbol"], t["bucket_id"]) for t in buys] == [("AMD.US", "sat1")], view
    before = _counts(daemon)
    code, body = api.call("POST", "/api/rebalancing/execute-rebalance", {"confirm": "EXECUTE"})
    assert code == 409, body
    assert body["error"] == "bucket_cash_insufficient", body
    assert "sat1" in body["message"] and "fees" in body["message"], body
    short = body["buckets"][0]
    assert short["bucket_id"] == "sat1" and Decimal(short["available_eur"]) == 0
    assert Decimal(short["needed_eur"]) == (Decimal(buys[0]["value_eur"])
                                            + Decimal(buys[0]["cost_eur"]))
    assert _counts(daemon) == before  # nothing journaled, nothing sent


def test_the_same_rebalance_goes_out_once_the_bucket_holds_the_cash(
        daemon: ProbeDaemon) -> None:
    api = Client(daemon)
    _satellite_owning_amd(daemon, api)
    code, view = api.call("GET", "/api/rebalancing/calculate-trades")
    assert code == 200, view
    amd = next(t for t in view["trades"] if t["symbol"] == "AMD.US")
    need = Decimal(amd["value_eur"]) + Decimal(amd["cost_eur"])
    usd = daemon.store.fetch_one(
        "SELECT eur_per FROM fx_rates WHERE currency = 'USD' ORDER BY day DESC LIMIT 1")
    assert usd is not None
    amount = (need / Decimal(str(usd[0])) * Decimal("1.05")).quantize(Decimal("0.01"))
    code, moved = api.call("POST", "/api/satellites/balances/transfer", {
        "from_bucket_id": "core", "to_bucket_id": "sat1", "amount": str(amount),
        "currency": "USD", "request_id": "fund-sat1"})
    assert code == 200, moved
    code, done = api.call("POST", "/api/rebalancing/execute-rebalance", {"confirm": "EXECUTE"})
    assert code == 200, done
    assert [(o["symbol"], o["bucket_id"], o["status"]) for o in done["orders"]] == [
        ("AMD.US", "sat1", "placed")], done


def test_the_executor_refuses_a_buy_its_bucket_cannot_pay_and_journals_nothing(
        daemon: ProbeDaemon) -> None:
    """Every path that orders (planner steps, DRIP, the API) meets the same layer."""
    api = Client(daemon)
    _satellite_owning_amd(daemon, api)
    before = _counts(daemon)
    intent = OrderIntent(AMD, "AMD.US", "BUY", Decimal(1), "autonomous")
    answer = daemon.bus.ask("executor", SubmitOrder(intent, "t:sat1:amd", "test", "sat1"), 60)
    assert isinstance(answer, OrderResult)
    assert (answer.status, answer.layer, answer.code) == (
        "blocked", "bucket_cash", "bucket_cash_insufficient"), answer
    assert _counts(daemon) == before
    # core holds the broker's USD in its ledger: the same buy for core goes out
    answer = daemon.bus.ask("executor", SubmitOrder(intent, "t:core:amd", "test", "core"), 60)
    assert isinstance(answer, OrderResult) and answer.status == "placed", answer


def test_a_buckets_open_buy_commits_its_cash_until_it_is_final(daemon: ProbeDaemon) -> None:
    """A buy still open at the broker is not in the bucket's ledger yet (it is settled
    when it fills): a second buy may not spend the same cash. Once the first is final,
    the cash is the bucket's again."""
    api = Client(daemon)
    _satellite_owning_amd(daemon, api)
    intent = OrderIntent(AMD, "AMD.US", "BUY", Decimal(1), "autonomous")
    # core holds the broker's cash (about 28,000 EUR); an AAPL buy of core still open
    # at the broker commits 1,000 × 150 USD of it
    journal = order_journal.SqliteOrderJournal(daemon.store)
    journaled = journal.journal_order(
        order_journal.NewOrder(
            OrderIntent(AAPL, "AAPL.US", "BUY", Decimal(1000), "manual"), "t:core:open-aapl",
            1000, Decimal(150), "USD", "research", "core"),
        daemon.clock.now(), lambda key, attempt: 4242 + attempt)
    assert journaled.created
    answer = daemon.bus.ask("executor", SubmitOrder(intent, "t:core:amd", "test", "core"), 60)
    assert isinstance(answer, OrderResult)
    assert (answer.status, answer.layer, answer.code) == (
        "blocked", "bucket_cash", "bucket_cash_insufficient"), answer
    assert "committed to open buys" in answer.message
    journal.mark_state(journaled.record.client_order_id, "cancelled",
                       "test: cancelled at the broker", daemon.clock.now())
    answer = daemon.bus.ask("executor", SubmitOrder(intent, "t:core:amd2", "test", "core"),
                            60)
    assert isinstance(answer, OrderResult) and answer.status == "placed", answer
