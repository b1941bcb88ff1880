"""Between full reads the cash-flow sync reads only the recent end of the broker's ledger
(the Tradernet client against the sandbox, which orders rows only when asked as the API
documents): a new deposit is booked at once, a movement the broker back-dates past the
recent window at the next full read (at least daily), each exactly once; a record left
waiting for its rate has the next sync read everything; and a broker that does not list
newest first is read whole every time; a row held for review keeps health degraded
through recent reads and through a read whose ledger source failed."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from arduino_trader.actors.base import RuntimeContext
from arduino_trader.actors.health import HealthActor
from arduino_trader.adapters.store import market_repo
from arduino_trader.domain.cash_flows.recent_read import FIRST_PAGE, FULL_READ_HOURS
from arduino_trader.protocols.broker import CashFlow
from arduino_trader.protocols.broker_errors import BrokerUnavailable
from arduino_trader.protocols.market_data import FxRate
from arduino_trader.protocols.messages import GetHealth, HealthReport
from tests.test_cash_flow_actor import Rig, rig  # noqa: F401  (the sandbox rig fixture)

D = Decimal


class Recording:
    """The rig's broker, recording each ``cash_flows`` page asked for; ``oldest_first``
    stands in for a broker that lists its ledger in booking order whatever it is asked."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.pages: list[tuple[int, int]] = []
        self.oldest_first = False
        self.down = False  # the cash-flow ledger answers 502

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def cash_flows(self, take: int = 500, skip: int = 0) -> tuple[CashFlow, ...]:
        self.pages.append((take, skip))
        if self.down:
            raise BrokerUnavailable("getUserCashFlows: 502")
        if not self.oldest_first:
            return await self.inner.cash_flows(take, skip)
        everything = await self.inner.cash_flows(10_000, 0)
        return tuple(reversed(everything))[skip:skip + take]


def _seed_history(rig: Rig, days: int = 160) -> None:  # noqa: F811
    """A deposit every other day for ``days`` days before now (80 rows with 160)."""
    for n in range(days // 2):
        rig.sandbox.sandbox.account.deposit(
            "EUR", D(10 + n), rig.clock.now() - timedelta(days=days - 2 * n))


def _sync(rig: Rig) -> dict[str, Any]:  # noqa: F811
    outcome = rig.job("cash_flow_sync")
    assert outcome.ok, outcome
    return outcome.details


def _booked(rig: Rig, amount: str) -> int:  # noqa: F811
    return len(rig.rows("SELECT 1 FROM cash_flows WHERE amount = ? AND kind = 'deposit'",
                        (amount,)))


def test_recent_reads_book_new_deposits_and_the_daily_full_read_a_back_dated_one(
        rig: Rig) -> None:  # noqa: F811
    broker = Recording(rig.broker.inner)
    rig.broker.inner = broker  # the actor's broker asks its inner client
    _seed_history(rig)
    first = _sync(rig)
    # the whole ledger: its 81 rows, then an empty page (a short page may be a cap)
    assert first["ledger_read"] == "full" and broker.pages == [(500, 0), (500, 81)]
    assert first["deposits_processed"] == 81  # the sandbox's opening deposit and 80

    rig.clock.advance(300)
    broker.pages.clear()
    quiet = _sync(rig)
    assert quiet["ledger_read"] == "recent" and broker.pages == [(FIRST_PAGE, 0)]
    assert quiet["synced"] == 0

    rig.sandbox.sandbox.account.deposit("EUR", D("1234.00"), rig.clock.now())
    rig.sandbox.sandbox.account.deposit("EUR", D("777.00"),  # booked late, dated 60 days back
                                        rig.clock.now() - timedelta(days=60))
    rig.clock.advance(300)
    recent = _sync(rig)
    assert recent["ledger_read"] == "recent" and recent["synced"] == 1
    assert (_booked(rig, "1234"), _booked(rig, "777")) == (1, 0)

    rig.clock.advance(FULL_READ_HOURS * 3600)
    full = _sync(rig)
    assert full["ledger_read"] == "full" and full["synced"] == 1
    assert (_booked(rig, "1234"), _booked(rig, "777")) == (1, 1)
    rig.clock.advance(300)
    again = _sync(rig)
    assert again["ledger_read"] == "recent" and again["synced"] == 0
    assert (_booked(rig, "1234"), _booked(rig, "777")) == (1, 1)


def test_a_record_waiting_for_its_rate_has_the_next_sync_read_everything(
        rig: Rig) -> None:  # noqa: F811
    _seed_history(rig)
    assert _sync(rig)["ledger_read"] == "full"
    rig.sandbox.sandbox.account.deposit("USD", D("200.00"), rig.clock.now())
    rig.clock.advance(300)
    waiting = rig.job("cash_flow_sync").details
    assert waiting["ledger_read"] == "recent" and len(waiting["missing_rate"]) == 1
    market_repo.write_fx(rig.store, [FxRate("USD", D("0.92"), rig.clock.now().date(),
                                            rig.clock.now(), "test")], rig.clock.now())
    rig.clock.advance(300)
    booked = _sync(rig)
    assert booked["ledger_read"] == "full" and booked["synced"] == 1
    rig.clock.advance(300)
    assert _sync(rig)["ledger_read"] == "recent"


def test_a_ledger_not_listed_newest_first_is_read_whole_every_sync(rig: Rig) -> None:  # noqa: F811
    broker = Recording(rig.broker.inner)
    broker.oldest_first = True
    rig.broker.inner = broker
    _seed_history(rig)
    assert _sync(rig)["ledger_read"] == "full"
    rig.sandbox.sandbox.account.deposit("EUR", D("1234.00"), rig.clock.now())
    rig.clock.advance(300)
    broker.pages.clear()
    details = _sync(rig)
    assert details["ledger_read"] == "full" and details["synced"] == 1
    # every page, not one: 50, the other 32, and the empty one after them
    assert broker.pages == [(FIRST_PAGE, 0), (500, FIRST_PAGE), (500, 82)]
    assert _booked(rig, "1234") == 1


def test_a_held_row_keeps_health_degraded_through_partial_reads(rig: Rig) -> None:  # noqa: F811
    ctx = RuntimeContext(bus=rig.bus, io=rig.io, clock=rig.clock, settings=lambda: rig.settings)
    rig.bus.register("health", HealthActor.start(ctx, expected=(), run_checks=dict))
    broker = Recording(rig.broker.inner)
    rig.broker.inner = broker
    _seed_history(rig)
    rig.sandbox.sandbox.account.state["cash_flows"].append(
        {"id": "zz-1", "type_code": "brand_new_code", "sum": "7.00", "currency": "EUR",
         "date": (rig.clock.now() - timedelta(days=60)).strftime("%Y-%m-%d"), "comment": ""})

    def review() -> dict[str, Any]:
        rig.flush()
        report = rig.bus.ask("health", GetHealth(), 10)
        assert isinstance(report, HealthReport)
        return report.components["cash_flow_review"]

    assert _sync(rig)["needs_review"] == 1
    assert review()["level"] == "degraded" and "ucf:zz-1" in review()["message"]
    rig.clock.advance(300)
    assert _sync(rig)["ledger_read"] == "recent"  # the held row is not in this answer
    assert review()["level"] == "degraded" and "ucf:zz-1" in review()["message"]
    rig.clock.advance(FULL_READ_HOURS * 3600)
    broker.down = True
    failed = rig.job("cash_flow_sync")
    assert not failed.ok and failed.details["failed_sources"], failed
    assert review()["level"] == "degraded" and "ucf:zz-1" in review()["message"]
