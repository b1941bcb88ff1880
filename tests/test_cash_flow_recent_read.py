"""A recent read of the broker's cash-flow ledger (``domain/cash_flows/recent_read``)
stops only when every movement dated on or after its first day has been read, whatever
the history, even when the broker orders by its own (Moscow) day, and never when the
rows are not newest first."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from hypothesis import example, given, settings
from hypothesis import strategies as st

from arduino_trader.domain.cash_flows.recent_read import reaches_back, recent_only
from arduino_trader.protocols.broker import CashFlow

SINCE = date(2024, 3, 1)
MOSCOW = timedelta(hours=3)


def _flow(n: int, at: datetime | None) -> CashFlow:
    return CashFlow(str(n), "card", Decimal(n + 1), "EUR", at)


histories = st.lists(st.integers(min_value=0, max_value=2 * 24 * 60), min_size=1,
                     max_size=30)  # minutes from a day before SINCE to a day after


@settings(max_examples=300)
@given(histories, st.integers(min_value=1, max_value=30))
@example([22 * 60, 34 * 60], 1)  # 22:00 the day before (Moscow's first day), then 10:00
def test_a_prefix_that_reaches_back_holds_every_recent_movement(
        minutes: list[int], cut: int) -> None:
    start = datetime.combine(SINCE, datetime.min.time(), UTC) - timedelta(days=1)
    flows = [_flow(i, start + timedelta(minutes=m)) for i, m in enumerate(minutes)]
    # the broker sorts by its own day, newest first; a day's rows in booking order
    listed = sorted(flows, key=lambda f: (f.at + MOSCOW).date(), reverse=True)  # type: ignore[operator]
    prefix = listed[:cut]
    wanted = {f.flow_id for f in flows if f.at is not None and f.at.date() >= SINCE}
    if reaches_back(prefix, SINCE):
        assert {f.flow_id for f in recent_only(prefix, SINCE)} == wanted


def test_rows_out_of_order_or_undated_never_reach_back() -> None:
    old = datetime(2024, 1, 5, tzinfo=UTC)
    new = datetime(2024, 3, 20, tzinfo=UTC)
    assert reaches_back([_flow(1, new), _flow(2, old)], SINCE)
    assert not reaches_back([_flow(2, old), _flow(1, new)], SINCE)  # oldest first
    assert not reaches_back([_flow(1, new), _flow(3, None), _flow(2, old)], SINCE)
    assert not reaches_back([_flow(1, new)], SINCE)  # not back past the first day yet
    assert not reaches_back([], SINCE)
    # the day before the first is not enough: its broker day may be the first day
    assert not reaches_back([_flow(1, new), _flow(2, datetime(2024, 2, 29, 22, tzinfo=UTC))],
                            SINCE)
