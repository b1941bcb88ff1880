"""Satellite facts: one decision reads the broker snapshot and the holdings once."""

from __future__ import annotations

from decimal import Decimal

import pytest

from arduino_trader.actors.satellite_facts import Facts
from arduino_trader.adapters.store.bucket_trades_repo import SqliteBucketTrades
from arduino_trader.adapters.store.sqlite import SqliteStore
from arduino_trader.daemon.io_loop import IoLoop
from arduino_trader.domain.satellites.balances import BalanceBook
from arduino_trader.protocols.broker import AccountSnapshot, CashBalance
from arduino_trader.protocols.broker_errors import BrokerError


class CountingBroker:
    """Answers ``account()`` with one EUR balance, failing first when told to."""

    simulated = False

    def __init__(self, fail_first: bool = False) -> None:
        self.calls = 0
        self.fail_first = fail_first

    async def account(self) -> AccountSnapshot:
        self.calls += 1
        if self.fail_first and self.calls == 1:
            raise BrokerError("broker down")
        return AccountSnapshot((), (CashBalance("EUR", Decimal("100")),))


def test_one_decision_reads_the_broker_and_the_holdings_once(io: IoLoop,
                                                             store: SqliteStore) -> None:
    broker = CountingBroker()
    facts = Facts(io, store, SqliteBucketTrades(store), broker)  # type: ignore[arg-type]
    facts.valuation({}, BalanceBook())
    facts.positions(["core"])
    assert facts.account().cash_in("EUR") == Decimal("100")
    assert broker.calls == 1
    assert facts.holdings() is facts.holdings()
    Facts(io, store, SqliteBucketTrades(store), broker).account()  # a new decision reads again
    assert broker.calls == 2


def test_a_failed_broker_read_is_not_kept(io: IoLoop, store: SqliteStore) -> None:
    broker = CountingBroker(fail_first=True)
    facts = Facts(io, store, SqliteBucketTrades(store), broker)  # type: ignore[arg-type]
    with pytest.raises(BrokerError):
        facts.account()
    assert facts.account().cash_in("EUR") == Decimal("100")
    assert broker.calls == 2
