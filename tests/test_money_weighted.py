"""The money-weighted return (XIRR): hand-computed cases, the cases without an answer, a
property (flows built from a known rate give that rate back), and on the daemon
``GET /api/portfolio/returns`` against a closed form of its own deposits and value."""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from daemon_harness import Client, ProbeDaemon, start_daemon, wait_for
from hypothesis import given
from hypothesis import strategies as st

from arduino_trader.adapters.clock import ManualClock
from arduino_trader.domain.money_weighted import NoRate, owner_flows, xirr

D = Decimal
Y0, Y1, Y2 = date(2025, 1, 1), date(2026, 1, 1), date(2027, 1, 1)  # 365 days apart


def test_one_deposit_grown_ten_percent_in_a_year() -> None:
    mw = xirr([(Y0, D(-1000)), (Y1, D(1100))])
    assert (mw.annual, mw.since_inception) == (D("0.1"), D("0.1"))


def test_two_deposits_a_year_apart_at_ten_percent() -> None:
    # by hand: 1000 · 1.1² + 1000 · 1.1 = 1210 + 1100 = 2310
    mw = xirr([(Y0, D(-1000)), (Y1, D(-1000)), (Y2, D(2310))])
    assert mw.annual == D("0.1") and mw.since_inception == D("0.21")  # 1.1² − 1
    assert (mw.start, mw.end) == (Y0, Y2)


def test_a_withdrawal_counts_as_money_back() -> None:
    # by hand: 1000 · 1.1² − 550 · 1.1 = 1210 − 605 = 605
    assert xirr([(Y0, D(-1000)), (Y1, D(550)), (Y2, D(605))]).annual == D("0.1")


def test_no_gain_is_zero_never_minus_zero() -> None:
    mw = xirr([(Y0, D(-2000)), (Y1, D(-10000)), (Y1, D(12000))])
    assert str(mw.annual) == "0E-10" and not mw.annual.is_signed()


def test_a_loss_is_negative_and_the_ledger_signs_are_turned_to_the_owners() -> None:
    flows = owner_flows([(Y0, D(1000))], Y1, D(900))  # a deposit as booked: > 0
    assert flows == [(Y0, D(-1000)), (Y1, D(900))]
    assert xirr(flows).annual == D("-0.1")


@pytest.mark.parametrize("flows", [[], [(Y0, D(-1000)), (Y0, D(1000))],
                                   [(Y0, D(1000)), (Y1, D(1000))],
                                   [(Y0, D(-1000)), (Y1, D(0))]])
def test_no_rate_without_money_in_and_out_over_time(flows: list[tuple[date, D]]) -> None:
    with pytest.raises(NoRate):
        xirr(flows)


@given(rate=st.floats(-0.6, 1.5), deposits=st.lists(
    st.tuples(st.integers(0, 3000), st.integers(1, 100_000)), min_size=1, max_size=12),
    tail=st.integers(1, 400))
def test_flows_built_from_a_rate_give_that_rate_back(
        rate: float, deposits: list[tuple[int, int]], tail: int) -> None:
    start = date(2020, 1, 1)
    last = max(day for day, _ in deposits) + tail
    value = sum(amount * (1 + rate) ** ((last - day) / 365) for day, amount in deposits)
    flows = [(start + timedelta(days=day), D(-amount)) for day, amount in deposits]
    flows.append((start + timedelta(days=last), D(repr(value))))
    assert math.isclose(float(xirr(flows).annual), rate, abs_tol=1e-7)


# ------------------------------------------------------------------------ the daemon
TODAY = datetime(2022, 12, 20, 15, 0, tzinfo=UTC)


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[ProbeDaemon]:
    d = start_daemon(tmp_path / "state", clock=ManualClock(TODAY))
    yield d
    d.gate.set()
    d.stop()


def add_flow(d: ProbeDaemon, key: str, day: date, amount: str) -> None:
    """A completed deposit (> 0) or withdrawal (< 0) in the cash-flow ledger, as the sync
    stores one, its effects marked applied so nothing else moves."""
    ts = int(TODAY.timestamp())
    kind = "deposit" if D(amount) > 0 else "withdrawal"
    d.store.execute(
        "INSERT INTO cash_flows (transaction_id, source, type_doc_id, transaction_type, "
        "kind, date, amount, currency, amount_eur, status, created_at, processed_at) "
        "VALUES (?, 'user_cash_flow', 'card', 'card', ?, ?, ?, 'EUR', ?, "
        "'completed', ?, ?)", (key, kind, day.isoformat(), amount, amount, ts, ts))


def test_returns_route_is_the_xirr_of_the_deposits_against_todays_value(
        daemon: ProbeDaemon) -> None:
    api = Client(daemon)
    wait_for(lambda: api.call("GET", "/api/portfolio")[1]["total_value_eur"] is not None
             and api.call("GET", "/api/portfolio/returns")[1]["flows"] >= 1, 60,
             "the paper account synced and its opening cash booked")
    opening = D(str(api.call("GET", "/api/portfolio/returns")[1]["paid_in_eur"]))
    # 1000 two years before today, 1000 one year before, 2310 taken out today: by hand
    # 1000 · 1.1² + 1000 · 1.1 = 2310, so 10 % a year (730 days = 2 years) on top of the
    # opening cash, paid in today and still held
    add_flow(daemon, "test:1", date(2020, 12, 20), "1000")
    add_flow(daemon, "test:2", date(2021, 12, 20), "1000")
    add_flow(daemon, "test:3", TODAY.date(), "-2310")
    code, body = api.call("GET", "/api/portfolio/returns")
    assert code == 200, body
    value = D(str(api.call("GET", "/api/portfolio")[1]["total_value_eur"]))
    assert D(str(body["value_eur"])) == value == opening  # the paper account's cash
    assert (D(str(body["paid_in_eur"])), D(str(body["withdrawn_eur"]))) == (
        opening + 2000, D(2310))
    money = body["money_weighted"]
    assert money["status"] == "ok" and money["start"] == "2020-12-20", money
    assert (D(str(money["annual"])), D(str(money["since_inception"]))) == (D("0.1"),
                                                                          D("0.21"))
    # one day of snapshots: no time-weighted return to report yet
    assert body["time_weighted"]["status"] == "insufficient_data", body["time_weighted"]


def test_returns_route_answers_an_annual_rate_too_large_to_mean_anything_with_null(
        daemon: ProbeDaemon) -> None:
    """Two snapshots a day apart, the value doubled: the time-weighted return since
    inception is 100 %, its annual rate (2³⁶⁵) has no meaning: null, never a 500."""
    api = Client(daemon)
    ts = int(TODAY.timestamp())
    for days, total in ((2, "1000"), (1, "2000")):
        daemon.store.execute(
            "INSERT OR REPLACE INTO portfolio_snapshots (date, total_value, cash_balance, "
            "invested_value, unrealized_pnl, updated_at) VALUES (?, ?, ?, '0', '0', ?)",
            ((TODAY.date() - timedelta(days=days)).isoformat(), total, total, ts))
    code, body = api.call("GET", "/api/portfolio/returns")
    assert code == 200, body
    timed = body["time_weighted"]
    assert timed["status"] == "ok" and timed["annual"] is None, timed
