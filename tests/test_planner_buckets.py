"""Per-bucket planning: each bucket plans its own securities with
its cash and parameters, its recommendations are attributed to it, and autonomous
execution submits the order for that bucket. Core-only when the satellites actor does not
answer."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

import numpy as np
import pytest

from arduino_trader.actors import planner as planner_module
from arduino_trader.actors.base import ActorContext, BaseActor, handles
from arduino_trader.actors.planner import PlannerActor
from arduino_trader.adapters.clock import ManualClock
from arduino_trader.adapters.store import plan_repo
from arduino_trader.adapters.store.sqlite import SqliteStore
from arduino_trader.config.settings import load_settings
from arduino_trader.daemon.io_loop import IoLoop
from arduino_trader.domain.planner.buckets import (
    apply_limits,
    own_result,
    plan_bucket,
    scoped_input,
)
from arduino_trader.domain.planner.models import (
    Holding,
    PlanInput,
    PlannerSettings,
    PlanResult,
    SecurityInfo,
    Step,
)
from arduino_trader.domain.satellites.parameters import map_parameters
from arduino_trader.domain.satellites.planning import PlanScope, Skipped
from arduino_trader.protocols.broker import AccountSnapshot, CashBalance, Position
from arduino_trader.protocols.execution import OrderResult, SubmitOrder
from arduino_trader.protocols.messages import RunJob
from arduino_trader.protocols.planning import PlanReady, RequestPlan
from arduino_trader.protocols.satellite_records import SatelliteSettings
from arduino_trader.protocols.satellites import GetPlanningScopes
from tests.test_planner_actor import NOW, FakeBroker, Recorder, _seed_universe
from tests.wiring import wired

PARAMS = map_parameters(SatelliteSettings("sat1"))


def _step(n: int, symbol: str, side: str = "BUY", qty: int = 5) -> Step:
    return Step(n, side, symbol, symbol, qty, 100.0, "EUR", 100.0 * qty, 2.0 + qty * 0.2,  # type: ignore[arg-type]
                "opportunity_buys", 0.7, f"{side.title()} {qty} {symbol}: why", 0.5, 0.6,
                0.6, {"total": 0.6})


# ----------------------------------------------------------------------- pure domain
def _input() -> PlanInput:
    secs = [SecurityInfo(f"S{i}", min_lot=2 if i == 2 else 1, max_target=0.5 if i else None)
            for i in range(4)]
    prices = np.arange(40, dtype=np.float64).reshape(4, 10) + 1
    return PlanInput(secs, prices, [Holding("S0", 3, 5), Holding("S2", 4, 5)], 9000.0,
                     days_since_last_buy={"S0": 3.0, "S2": 9.0},
                     settings=PlannerSettings(min_hold_days=90))


def test_scoped_input_keeps_only_the_buckets_securities() -> None:
    sub = scoped_input(_input(), {"S2", "S3"}, 1234.5, PARAMS)
    assert [s.symbol for s in sub.securities] == ["S2", "S3"]
    assert sub.prices.shape == (2, 10) and sub.prices[0, 0] == 21.0
    assert [h.symbol for h in sub.holdings] == ["S2"] and sub.cash_eur == 1234.5
    assert sub.days_since_last_buy == {"S2": 9.0}
    assert sub.settings.min_hold_days == PARAMS.target_hold_days
    cap = float(PARAMS.position_size_max)
    assert all(s.max_target is not None and s.max_target <= cap for s in sub.securities)
    core = scoped_input(_input(), {"S0"}, 10.0)
    assert core.settings == _input().settings and core.securities[0].max_target is None


def test_own_result_scales_buys_to_lots_and_names_the_bucket() -> None:
    result = PlanResult("plan", "ok", steps=(_step(1, "S1", "SELL", 4), _step(2, "S2", qty=5),
                                            _step(3, "S3", qty=1)))
    lots = {"S1": 1, "S2": 2, "S3": 1}
    out = own_result("sat1", result, Decimal("0.5"), lots, PlannerSettings())
    assert [(s.step, s.symbol, s.side, s.quantity) for s in out.steps] == \
        [(1, "S1", "SELL", 4), (2, "S2", "BUY", 2)]  # 2.5 → one lot of 2; 0.5 → dropped
    assert out.steps[1].estimated_value_eur == 200.0
    assert out.steps[1].cost_eur == round(2.0 + 0.002 * 200.0, 2)
    assert all(s.reason.startswith("[sat1] ") for s in out.steps)
    assert "scaled 5→2" in out.steps[1].reason
    only_small = PlanResult("plan", "ok", steps=(_step(1, "S3", qty=1),))
    dropped = own_result("sat1", only_small, Decimal("0.5"), lots, PlannerSettings())
    assert dropped.status == "nothing_to_do" and not dropped.steps
    assert own_result("core", result, Decimal(1), lots, PlannerSettings()) is result


def test_scoped_input_uses_the_buckets_own_positions() -> None:
    inp = _input()  # the account holds 3 S0 and 4 S2
    own = scoped_input(inp, {"S2", "S3"}, 100.0, PARAMS, {"S2": Decimal(1), "S0": Decimal(2),
                                                          "S9": Decimal(5)})
    assert [(h.symbol, h.quantity) for h in own.holdings] == [("S0", 2.0), ("S2", 1.0)]
    buyable = {s.symbol: s.allow_buy for s in own.securities}
    assert buyable == {"S0": False, "S2": True, "S3": True}  # S0 is another bucket's symbol
    capped = scoped_input(inp, {"S2"}, 1.0, PARAMS, {"S2": Decimal(99)})
    assert [(h.symbol, h.quantity) for h in capped.holdings] == [("S2", 4.0)]
    assert scoped_input(inp, {"S2"}, 1.0, PARAMS, {}).holdings == []


def test_a_full_satellite_cannot_open_a_new_position() -> None:
    two = replace(PARAMS, max_positions=2)
    full = scoped_input(_input(), {"S0", "S1", "S2", "S3"}, 100.0, two)
    assert {s.symbol: s.allow_buy for s in full.securities} == {
        "S0": True, "S1": False, "S2": True, "S3": False}
    # with room for one more, a plan opening two keeps the first; a whole sale frees a slot
    three = replace(PARAMS, max_positions=3)
    result = PlanResult("plan", "ok", steps=(
        _step(1, "S1"), _step(2, "S3"), _step(3, "S0", "SELL", 3), _step(4, "S3"),
        _step(5, "S2")))
    out = apply_limits("sat1", result, full, three)
    assert [(s.step, s.symbol, s.side) for s in out.steps] == [
        (1, "S1", "BUY"), (2, "S0", "SELL"), (3, "S3", "BUY"), (4, "S2", "BUY")]
    assert "1 buy(s) beyond 3 positions dropped" in out.reason
    assert apply_limits("core", result, full, None) is result


def _loss_input(last: float) -> PlanInput:
    secs = [SecurityInfo("L", currency="USD", fx_rate=2.0, min_lot=5), SecurityInfo("W")]
    prices = np.array([[100.0, np.nan, last], [10.0, 11.0, 12.0]])
    return PlanInput(secs, prices, [Holding("L", 12, 100.0), Holding("W", 3, 10.0)],
                     500.0, settings=PlannerSettings())


def test_a_position_beyond_the_stop_loss_is_sold_first_with_that_reason() -> None:
    stop = PARAMS.stop_loss_pct  # 0.125 at the default sliders
    planned = PlanResult("nothing_to_do", "no gain", current_score=0.4)
    out = apply_limits("sat1", planned, _loss_input(87.0), PARAMS)  # −13 %
    assert out.status == "plan" and "stop-loss" in out.reason
    (sale,) = out.steps
    assert (sale.step, sale.side, sale.symbol, sale.quantity) == (1, "SELL", "L", 10)  # lots
    assert sale.estimated_value_eur == 435.0 and sale.category == "stop_loss"
    assert sale.reason.startswith("[sat1] Sell 10 L: stop-loss, -13.0%")
    assert f"{stop:.1%}" in sale.reason
    # a planner step in the stopped symbol gives way; others stay after the sale
    busy = PlanResult("plan", "ok", steps=(_step(1, "L", qty=5), _step(2, "W", "SELL", 3)))
    out = apply_limits("sat1", busy, _loss_input(80.0), PARAMS)
    assert [(s.symbol, s.side) for s in out.steps] == [("L", "SELL"), ("W", "SELL")]
    # within the limit nothing changes
    assert apply_limits("sat1", busy, _loss_input(88.0), PARAMS) is busy
    # measured against the bucket's own average cost, not the account's
    bought_high = scoped_input(_loss_input(88.0), {"L", "W"}, 0.0, PARAMS,
                               {"L": Decimal(10)}, {"L": Decimal(110)})
    assert bought_high.holdings[0].avg_price == 110.0
    sale = apply_limits("sat1", busy, bought_high, PARAMS).steps[0]
    assert (sale.symbol, sale.quantity, sale.category) == ("L", 10, "stop_loss")


def test_plan_bucket_scopes_plans_and_applies_the_limits() -> None:
    seen: list[PlanInput] = []

    def fake_plan(inp: PlanInput) -> PlanResult:
        seen.append(inp)
        return PlanResult("plan", "ok", steps=(_step(1, "S3", qty=4),))

    scope = PlanScope("sat1", frozenset({"S2", "S3"}), Decimal(700), PARAMS, Decimal("0.5"),
                      {"S2": Decimal(2)})
    out = plan_bucket(_input(), scope, fake_plan)
    (inp,) = seen
    assert inp.cash_eur == 700.0 and [(h.symbol, h.quantity) for h in inp.holdings] == [
        ("S2", 2.0)]
    assert [(s.symbol, s.quantity) for s in out.steps] == [("S3", 2)]
    assert out.steps[0].reason.startswith("[sat1] ")
    core = PlanScope("core", frozenset({"S0"}), Decimal(10), None, Decimal(1))
    assert plan_bucket(_input(), core, fake_plan, 5.0).steps[0].reason.startswith("Buy")
    assert seen[-1].cash_eur == 15.0


# --------------------------------------------------------------------------- actor
class FakeSatellites(BaseActor):
    """Answers ``GetPlanningScopes`` as told."""

    name = "satellites"

    def __init__(self, ctx: ActorContext, answer: Any) -> None:
        super().__init__(ctx)
        self.answer = answer

    @handles(GetPlanningScopes)
    def _scopes(self, msg: GetPlanningScopes) -> Any:
        return self.answer


class FakeExecutor(BaseActor):
    """Records every order; places it."""

    name = "executor"

    def __init__(self, ctx: ActorContext, seen: list[SubmitOrder]) -> None:
        super().__init__(ctx)
        self.seen = seen

    @handles(SubmitOrder)
    def _submit(self, msg: SubmitOrder) -> OrderResult:
        self.seen.append(msg)
        return OrderResult("placed", "ok", client_order_id=len(self.seen), state="filled")


@dataclass
class BucketRig:
    io: IoLoop
    store: SqliteStore
    bus: Recorder
    ctx: ActorContext
    calls: list[PlanInput]
    published: list[object]


@pytest.fixture
def brig(io: IoLoop, store: SqliteStore, monkeypatch: pytest.MonkeyPatch
         ) -> Iterator[BucketRig]:
    """A planner whose ``plan()`` records its input and proposes buying 5 of its first
    security; the universe is S0.DE, S1.DE, S2.DE (EUR); the account holds 3 S2.DE."""
    calls: list[PlanInput] = []

    def fake_plan(inp: PlanInput) -> PlanResult:
        calls.append(inp)
        return PlanResult("plan", "fake", steps=(_step(1, inp.securities[0].symbol),))

    monkeypatch.setattr(planner_module, "plan", fake_plan)
    settings = load_settings(None, environ={}).with_overrides({"max_plan_depth": 2})
    published: list[object] = []
    bus = Recorder(published)
    broker = FakeBroker(AccountSnapshot(
        (Position("S2.DE", Decimal(3), Decimal(40), Decimal(50), "EUR"),),
        (CashBalance("EUR", Decimal("10000")),), True))
    ctx = ActorContext(bus=bus, io=io, clock=ManualClock(NOW), settings=lambda: settings,
                       deps=wired(store=store, paper_broker=broker, broker=broker))
    rig = BucketRig(io, store, bus, ctx, calls, published)
    from tests.test_planner_actor import Rig

    _seed_universe(Rig(io, store, bus, broker, published))
    bus.register("planner", PlannerActor.start(ctx, warm=False))
    yield rig


SCOPES = ([PlanScope("core", frozenset({"S0.DE", "S1.DE"}), Decimal("6000"), None,
                     Decimal(1)),
           PlanScope("sat1", frozenset({"S2.DE"}), Decimal("4000"), PARAMS, Decimal("0.5"))],
          [Skipped("sat2", "status paused")])


def test_each_bucket_plans_its_own_securities_cash_and_parameters(brig: BucketRig) -> None:
    seen: list[SubmitOrder] = []
    brig.bus.register("satellites", FakeSatellites.start(brig.ctx, SCOPES))
    brig.bus.register("executor", FakeExecutor.start(brig.ctx, seen))
    summary = brig.bus.ask("planner", RequestPlan("test"), 60)
    assert summary.ok and summary.status == "plan" and summary.steps == 2
    assert any("sat2 does not plan: status paused" in w for w in summary.warnings)
    core, sat = brig.calls
    assert {s.symbol for s in core.securities} == {"S0.DE", "S1.DE"} and not core.holdings
    assert core.cash_eur == 6000.0 and core.settings.min_hold_days == 90
    assert [s.symbol for s in sat.securities] == ["S2.DE"] and sat.cash_eur == 4000.0
    assert [(h.symbol, h.quantity) for h in sat.holdings] == [("S2.DE", 3.0)]
    assert sat.settings.min_hold_days == PARAMS.target_hold_days
    rows = brig.store.fetch_all(
        "SELECT r.symbol, r.quantity, r.bucket_id, r.reason, p.bucket_id AS plan_bucket, "
        "p.parent_id FROM recommendations r JOIN plans p ON p.id = r.plan_id "
        "ORDER BY r.symbol")
    got = [(r["symbol"], r["quantity"], r["bucket_id"], r["plan_bucket"]) for r in rows]
    assert got == [("S0.DE", 5, "core", "core"), ("S2.DE", 2, "sat1", "sat1")]
    assert rows[0]["parent_id"] is None and rows[1]["parent_id"] is not None
    assert rows[1]["reason"].startswith("[sat1] ")
    ready = [e for e in brig.published if isinstance(e, PlanReady)][-1]
    assert {(s.symbol, s.bucket_id) for s in ready.steps} == {("S0.DE", "core"),
                                                              ("S2.DE", "sat1")}
    latest = plan_repo.latest_plan(brig.store)
    assert latest is not None and latest["bucket_id"] == "core"
    sats = plan_repo.bucket_plans(brig.store, latest["id"])
    assert [b["bucket_id"] for b in sats] == ["sat1"]
    # Autonomous execution: the first pending step goes out for its bucket.
    outcome = brig.bus.ask("planner", RunJob("autonomous_execution", "r1"), 60)
    assert outcome.ok and outcome.details["bucket_id"] == seen[0].bucket_id
    pending = {r["symbol"]: r["bucket_id"] for r in
               plan_repo.pending_recommendations(brig.store)}
    assert seen[0].bucket_id == {"S0.DE": "core", "S2.DE": "sat1"}[seen[0].intent.symbol]
    assert seen[0].intent.symbol not in pending and len(pending) == 1
    # The account moved: the other bucket's stale step makes the next run re-plan first.
    broker = brig.ctx.deps.paper_broker
    broker.snapshot = replace(broker.snapshot, cash=(CashBalance("EUR", Decimal("9000")),))
    outcome = brig.bus.ask("planner", RunJob("autonomous_execution", "r2"), 60)
    assert outcome.ok and outcome.details["replanned"] is True, outcome
    assert len(brig.calls) == 4 and len(seen) == 2


def test_without_the_satellites_actor_core_plans_the_whole_account(brig: BucketRig) -> None:
    summary = brig.bus.ask("planner", RequestPlan("test"), 60)
    assert summary.ok and summary.steps == 1
    (only,) = brig.calls
    assert len(only.securities) == 3 and only.cash_eur == 10000.0
    assert [h.symbol for h in only.holdings] == ["S2.DE"]
    rows = brig.store.fetch_all("SELECT bucket_id FROM recommendations")
    assert [r["bucket_id"] for r in rows] == ["core"]


def test_only_core_scoped_plans_the_whole_account(brig: BucketRig) -> None:
    """No satellite at all: core's ledger may be empty, so the account's cash is used."""
    only_core = ([replace(SCOPES[0][0], cash_eur=Decimal(0),
                          symbols=frozenset({"S0.DE", "S1.DE", "S2.DE"}))], [])
    brig.bus.register("satellites", FakeSatellites.start(brig.ctx, only_core))
    brig.bus.ask("planner", RequestPlan("test"), 60)
    (only,) = brig.calls
    assert only.cash_eur == 10000.0 and len(only.securities) == 3


def test_a_satellite_plans_its_own_small_universe_on_the_bundled_data() -> None:
    """The real planner on a satellite's five securities and 3,000 EUR at half
    aggression: buys only its own securities, within its cash, scaled and attributed."""
    from arduino_trader.domain.planner.plan import plan
    from tests.bundled_plan import bundled_input

    full = bundled_input(20_000.0)
    own = {"WMT.US", "PG.US", "KO.US", "PEP.US", "JNJ.US"}
    scoped = scoped_input(full, own, 3000.0, PARAMS)
    raw = plan(scoped)
    assert raw.status == "plan", raw.reason
    lots = {s.symbol: s.min_lot for s in scoped.securities}
    mine = own_result("sat1", raw, Decimal("0.5"), lots, scoped.settings)
    assert {s.symbol for s in raw.steps} <= own
    assert sum(s.estimated_value_eur + s.cost_eur for s in raw.steps) <= 3000.0
    assert all(s.reason.startswith("[sat1] ") for s in mine.steps)
    by_symbol = {s.symbol: s.quantity for s in raw.steps}
    assert all(s.quantity == by_symbol[s.symbol] // 2 for s in mine.steps if s.side == "BUY")


def test_a_satellite_on_the_bundled_data_keeps_its_limits() -> None:
    """The real planner: a satellite holding 10 of the account's 30 KO (bought 40 % above
    today's close) sells its own 10 first for the stop-loss, and never plans more than
    ``max_positions`` holdings."""
    from arduino_trader.domain.planner.plan import plan
    from tests.bundled_plan import bundled_input, last_close

    probe = bundled_input(0.0)
    ko = last_close(probe, "KO.US")
    full = bundled_input(20_000.0, [Holding("KO.US", 30, ko * 1.4, 400, 400, None)])
    own = {"WMT.US", "PG.US", "KO.US", "PEP.US", "JNJ.US"}
    params = replace(PARAMS, max_positions=2)
    scope = PlanScope("sat1", frozenset(own), Decimal(5000), params, Decimal(1),
                      {"KO.US": Decimal(10)})
    out = plan_bucket(full, scope, plan)
    first = out.steps[0]
    assert (first.side, first.symbol, first.quantity, first.category) == (
        "SELL", "KO.US", 10, "stop_loss"), out.reason
    assert first.reason.startswith("[sat1] Sell 10 KO.US: stop-loss")
    held = {"KO.US": 10}
    for s in out.steps:
        held[s.symbol] = held.get(s.symbol, 0) + (s.quantity if s.side == "BUY"
                                                  else -s.quantity)
        assert sum(1 for q in held.values() if q > 0) <= params.max_positions
    assert all(s.symbol in own for s in out.steps)
