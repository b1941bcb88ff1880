"""The paper broker: simulated fills at given prices with the configured fees, persisted."""

from __future__ import annotations

import sqlite3
import threading
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from arduino_trader.adapters.clock import ManualClock
from arduino_trader.adapters.paper_broker import PaperBroker
from arduino_trader.adapters.paper_ledger import PaperFees, PaperLedger, PaperRefusal
from arduino_trader.adapters.paper_prices import StoredPrices
from arduino_trader.adapters.store.sqlite import SqliteStore
from arduino_trader.daemon.io_loop import IoLoop
from arduino_trader.protocols.broker import OrderRequest
from arduino_trader.protocols.broker_errors import BrokerRejected, BrokerUnsupported
from arduino_trader.protocols.store import StoreError

FEES = PaperFees(fixed_eur=Decimal("2.00"), percent=Decimal("0.002"))
RATES = {"EUR": Decimal(1), "USD": Decimal("1.10")}


def make(store: SqliteStore, clock: ManualClock | None = None) -> PaperBroker:
    return PaperBroker(store, clock or ManualClock(datetime(2026, 3, 2, 10, tzinfo=UTC)),
                       fees=lambda: FEES, eur_rates=lambda: RATES)


def test_opening_account_is_simulated(io: IoLoop, store: SqliteStore) -> None:
    broker = make(store)
    account = io.run(broker.account(), 10)
    assert account.simulated and account.positions == ()
    assert [(c.currency, c.amount) for c in account.cash] == [("EUR", Decimal("10000"))]
    flows = io.run(broker.cash_flows(), 10)
    assert flows[0].amount == Decimal("10000") and flows[0].simulated


def test_cash_flows_read_back_the_ledger_as_it_is_now(io: IoLoop, store: SqliteStore) -> None:
    """Converted rows are remembered by their whole content: a new flow appears, the
    pages stay exact, and a row changed behind the broker's back is read as changed."""
    broker = make(store)
    first = io.run(broker.cash_flows(), 10)
    io.run(broker.deposit("EUR", Decimal("500"), "monthly"), 10)
    again = io.run(broker.cash_flows(), 10)
    assert again[1] is first[0] and again[0].amount == Decimal("500")
    assert io.run(broker.cash_flows(1, 1), 10) == (first[0],)
    store.execute("UPDATE paper_cash_flows SET comment = 'edited' "
                         "WHERE comment = 'monthly'")
    assert io.run(broker.cash_flows(), 10)[0].comment == "edited"


def test_market_buy_fills_at_price_with_fees(io: IoLoop, store: SqliteStore) -> None:
    broker = make(store)
    io.run(broker.set_price("SAP.EU", Decimal("180.50"), "EUR"), 10)
    ack = io.run(broker.place_order(OrderRequest("SAP.EU", "BUY", 10, user_order_id=1)), 10)
    assert ack.simulated
    account = io.run(broker.account(), 10)
    fee = Decimal("2.00") + Decimal("1805.00") * Decimal("0.002")
    assert account.cash_in("EUR") == Decimal("10000") - Decimal("1805.00") - fee
    (pos,) = account.positions
    assert (pos.symbol, pos.quantity, pos.avg_price) == ("SAP.EU", 10, Decimal("180.50"))
    order = io.run(broker.find_order(1), 10)
    assert order is not None and order.status == 21 and order.simulated
    trades = io.run(broker.trades(date(2026, 3, 1), date(2026, 3, 3)), 10)
    assert trades[0].fee == fee and trades[0].simulated
    flows = io.run(broker.cash_flows(), 10)
    assert flows[0].type_code == "commission_for_trades" and flows[0].amount == -fee
    # the ledger row names its trade, as the broker's does: one fee row per charge
    assert f"(Trade {trades[0].trade_id})" in flows[0].comment


def test_fixed_fee_is_converted_to_the_trade_currency(io: IoLoop, store: SqliteStore) -> None:
    broker = make(store)
    io.run(broker.deposit("USD", Decimal("1000")), 10)
    io.run(broker.set_price("AAPL.US", Decimal("100"), "USD"), 10)
    io.run(broker.place_order(OrderRequest("AAPL.US", "BUY", 2, user_order_id=2)), 10)
    (trade,) = io.run(broker.trades(date(2026, 3, 2), date(2026, 3, 2)), 10)
    assert trade.fee == Decimal("2.20") + Decimal("0.40")


def test_limit_order_waits_then_fills_when_marketable(io: IoLoop, store: SqliteStore) -> None:
    broker = make(store)
    io.run(broker.set_price("SAP.EU", Decimal("200"), "EUR"), 10)
    io.run(broker.place_order(OrderRequest("SAP.EU", "BUY", 1, user_order_id=3,
                                           limit_price=Decimal("190"))), 10)
    assert [o.status for o in io.run(broker.open_orders(), 10)] == [10]
    io.run(broker.set_price("SAP.EU", Decimal("189"), "EUR"), 10)
    assert io.run(broker.open_orders(), 10) == ()
    order = io.run(broker.find_order(3), 10)
    assert order is not None and order.status == 21 and order.fills[0].price == 189


def test_refusals_write_nothing(io: IoLoop, store: SqliteStore) -> None:
    broker = make(store)
    io.run(broker.set_price("ASML.EU", Decimal("650"), "EUR"), 10)
    with pytest.raises(BrokerRejected):
        io.run(broker.place_order(OrderRequest("ASML.EU", "BUY", 100, user_order_id=4)), 10)
    with pytest.raises(BrokerRejected):
        io.run(broker.place_order(OrderRequest("ASML.EU", "SELL", 1, user_order_id=5)), 10)
    with pytest.raises(BrokerRejected):
        io.run(broker.place_order(OrderRequest("NOPRICE", "BUY", 1, user_order_id=6)), 10)
    assert store.fetch_all("SELECT * FROM paper_orders") == []
    io.run(broker.place_order(OrderRequest("ASML.EU", "BUY", 1, user_order_id=7)), 10)
    with pytest.raises(BrokerRejected):
        io.run(broker.place_order(OrderRequest("ASML.EU", "BUY", 1, user_order_id=7)), 10)
    with pytest.raises(BrokerRejected):
        io.run(broker.cancel_order(999), 10)
    with pytest.raises(BrokerUnsupported):
        io.run(broker.daily_history("ASML.EU", datetime.now(UTC) - timedelta(days=3),
                                    datetime.now(UTC)), 10)


def test_cancel_and_persistence(io: IoLoop, store: SqliteStore) -> None:
    broker = make(store)
    io.run(broker.set_price("SAP.EU", Decimal("200"), "EUR"), 10)
    ack = io.run(broker.place_order(OrderRequest("SAP.EU", "BUY", 1, user_order_id=8,
                                                 limit_price=Decimal("1"))), 10)
    io.run(broker.place_order(OrderRequest("SAP.EU", "BUY", 2, user_order_id=9)), 10)
    io.run(broker.cancel_order(ack.order_id), 10)
    again = make(store)
    account = io.run(again.account(), 10)
    assert account.positions[0].quantity == 2
    order = io.run(again.find_order(8), 10)
    assert order is not None and order.status == 31


def test_every_row_is_marked_simulated(io: IoLoop, store: SqliteStore) -> None:
    broker = make(store)
    io.run(broker.set_price("SAP.EU", Decimal("200"), "EUR"), 10)
    io.run(broker.place_order(OrderRequest("SAP.EU", "BUY", 1, user_order_id=10)), 10)
    for table in ("paper_account", "paper_cash", "paper_positions", "paper_orders",
                  "paper_trades", "paper_cash_flows"):
        rows = store.fetch_all(f"SELECT simulated FROM {table}")
        assert rows and all(r["simulated"] == 1 for r in rows), table
    with pytest.raises((StoreError, sqlite3.IntegrityError)):
        store.execute("INSERT INTO paper_cash (currency, amount, simulated) "
                             "VALUES ('GBP', '1', 0)")


# ------------------------------------------------------------------ property
SYMBOLS = {"A": ("EUR", Decimal("12.34")), "B": ("EUR", Decimal("250")),
           "C": ("USD", Decimal("0.57"))}
ORDERS = st.lists(st.tuples(st.sampled_from(["BUY", "SELL"]), st.sampled_from(sorted(SYMBOLS)),
                            st.integers(1, 400)), max_size=40)


@settings(max_examples=200, deadline=None)
@given(orders=ORDERS, eur=st.integers(0, 50_000), usd=st.integers(0, 5_000))
def test_value_is_conserved_minus_fees(orders: list[tuple[str, str, int]], eur: int,
                                       usd: int) -> None:
    ledger = PaperLedger(cash={"EUR": Decimal(eur), "USD": Decimal(usd)})
    prices = {s: p for s, (_, p) in SYMBOLS.items()}
    before = ledger.value_by_currency(prices)
    fees = {"EUR": Decimal(0), "USD": Decimal(0)}
    for side, symbol, qty in orders:
        currency, price = SYMBOLS[symbol]
        fee = FEES.fee(price * qty, RATES[currency])
        snapshot = (dict(ledger.cash), dict(ledger.positions))
        try:
            ledger.apply_fill(side, symbol, currency, qty, price, fee)  # type: ignore[arg-type]
        except PaperRefusal:
            assert (ledger.cash, ledger.positions) == snapshot  # refusals change nothing
            continue
        fees[currency] += fee
    after = ledger.value_by_currency(prices)
    for currency in ("EUR", "USD"):
        assert after[currency] == before[currency] - fees[currency]
        assert ledger.cash[currency] >= 0  # cash orders never borrow
    assert all(q > 0 for q, _, _ in ledger.positions.values())


class FakeMarketData:
    """Just enough of the MarketData port for the paper broker's price source."""

    name = "fake"

    def quotes(self, symbols: list[str]) -> dict[str, object]:
        from arduino_trader.protocols.market_data import Quote

        known = {"AAPL.US": Quote("AAPL.US", 101.25, "USD", datetime.now(UTC), "fake")}
        return {s: known[s] for s in symbols if s in known}

    def fx_rate(self, currency: str) -> object:
        from arduino_trader.protocols.market_data import FxRate

        return FxRate(currency, Decimal("0.8"), date.today(), datetime.now(UTC), "fake")


def test_paper_broker_prices_from_market_data(io: IoLoop, store: SqliteStore) -> None:
    from arduino_trader.adapters.paper_prices import MarketDataPrices

    prices = MarketDataPrices(FakeMarketData())  # type: ignore[arg-type]
    broker = PaperBroker(store, ManualClock(datetime(2026, 3, 2, 10, tzinfo=UTC)),
                         fees=lambda: FEES, prices=prices, eur_rates=prices.rates)
    io.run(broker.deposit("USD", Decimal("500")), 10)
    io.run(broker.place_order(OrderRequest("AAPL.US", "BUY", 2, user_order_id=1)), 10)
    (trade,) = io.run(broker.trades(date(2026, 3, 2), date(2026, 3, 2)), 10)
    assert trade.price == Decimal("101.25")
    assert trade.fee == Decimal("2.90")  # 2 EUR = 2.50 USD + 0.2 % of 202.50, half-even
    assert io.run(broker.quotes(("AAPL.US", "NOPE")), 10)[0].last == Decimal("101.25")


def test_the_account_prices_every_position_in_one_call(io: IoLoop, store: SqliteStore) -> None:
    """One batch quote per account snapshot (not one trip off the loop per position); a
    position the source cannot price is valued at its average price."""
    from arduino_trader.adapters.paper_prices import MarketDataPrices

    class Counting(FakeMarketData):
        calls: list[list[str]] = []

        def quotes(self, symbols: list[str]) -> dict[str, object]:
            self.calls.append(list(symbols))
            return super().quotes(symbols)

    source = Counting()
    prices = MarketDataPrices(source)  # type: ignore[arg-type]
    broker = PaperBroker(store, ManualClock(datetime(2026, 3, 2, 10, tzinfo=UTC)),
                         fees=lambda: FEES, prices=prices, eur_rates=prices.rates)
    io.run(broker.deposit("USD", Decimal("500")), 10)
    io.run(broker.place_order(OrderRequest("AAPL.US", "BUY", 2, user_order_id=1)), 10)
    store.execute("INSERT INTO paper_positions (symbol, quantity, avg_price, currency) "
                         "VALUES ('GONE.US', '3', '7.50', 'USD')")
    source.calls.clear()
    account = io.run(broker.account(), 10)
    assert source.calls == [["AAPL.US", "GONE.US"]]
    priced = {p.symbol: p.market_price for p in account.positions}
    assert priced == {"AAPL.US": Decimal("101.25"), "GONE.US": Decimal("7.50")}
    stored = StoredPrices(store)
    io.run(broker.set_price("SAP.EU", Decimal("180.50"), "EUR"), 10)
    assert io.run(stored.prices(("SAP.EU", "NOPE")), 10) == {"SAP.EU": (Decimal("180.50"),
                                                                        "EUR")}
    assert io.run(stored.prices(()), 10) == {}


@pytest.mark.parametrize("in_memory", [False, True])
def test_a_source_in_memory_is_asked_on_the_loop_others_off_it(io: IoLoop,
                                                                in_memory: bool) -> None:
    """A blocking source (the network) never runs on the loop's thread; a loaded replay
    answers there, without a thread hop."""
    from arduino_trader.adapters.paper_prices import MarketDataPrices

    class Where(FakeMarketData):
        threads: list[object] = []

        def quotes(self, symbols: list[str]) -> dict[str, object]:
            self.threads.append(threading.current_thread())
            return super().quotes(symbols)

    source = Where()
    source.in_memory = in_memory  # type: ignore[attr-defined]
    prices = MarketDataPrices(source)  # type: ignore[arg-type]
    got = io.run(prices.prices(["AAPL.US", "NOPE"]), 10)
    assert got == {"AAPL.US": (Decimal("101.25"), "USD")}
    assert (source.threads == [io._thread]) is in_memory


def test_the_replay_is_in_memory_once_loaded() -> None:
    from arduino_trader.adapters.market_data.replay_source import ReplaySource

    replay = ReplaySource(ManualClock(datetime(2020, 6, 1, 20, tzinfo=UTC)))
    assert not replay.in_memory  # the first read loads a file: off the loop
    replay.quotes(["AAPL.US"])
    assert replay.in_memory


# ------------------------------------------------------------------- FX-pair orders
def test_fx_pairs_are_quoted_from_the_eur_rates(io: IoLoop, store: SqliteStore) -> None:
    broker = make(store)
    (q,) = io.run(broker.quotes(("EUR/USD",)), 10)
    assert (q.currency, q.bid, q.ask) == ("USD", Decimal("1.1000"), Decimal("1.1000"))
    assert io.run(broker.quotes(("HKD/EUR",)), 10) == ()  # no HKD rate: no quote, never 1:1
    info = io.run(broker.security_info("EUR/USD"), 10)
    assert info.currency == "USD"


def test_a_filled_pair_order_moves_cash_exactly_and_is_journaled(io: IoLoop,
                                                                 store: SqliteStore) -> None:
    broker = make(store)
    io.run(broker.deposit("USD", Decimal("-100")), 10)  # a negative USD balance
    # SELL EUR/USD pays 200 EUR (the base) and receives USD at 1.10, fee in USD
    io.run(broker.place_order(OrderRequest("EUR/USD", "SELL", 200, user_order_id=7,
                                           limit_price=Decimal("1.0945"))), 10)
    fee = Decimal("2.00") * Decimal("1.10") + Decimal("220.00") * Decimal("0.002")
    account = io.run(broker.account(), 10)
    assert account.cash_in("EUR") == Decimal("9800")
    assert account.cash_in("USD") == Decimal("-100") + Decimal("220.00") - fee
    assert account.positions == ()
    order = io.run(broker.find_order(7), 10)
    assert order is not None and order.status == 21 and order.fills[0].quantity == 200
    (trade,) = io.run(broker.trades(date(2026, 3, 2), date(2026, 3, 2)), 10)
    assert (trade.symbol, trade.currency, trade.fee) == ("EUR/USD", "USD", fee)
    flows = io.run(broker.cash_flows(), 10)
    assert flows[0].type_code == "commission_for_trades" and flows[0].currency == "USD"


def test_a_pair_order_never_borrows_the_paid_currency(io: IoLoop, store: SqliteStore) -> None:
    broker = make(store)
    with pytest.raises(BrokerRejected, match="insufficient USD"):
        # BUY EUR/USD receives EUR and pays USD the account does not have
        io.run(broker.place_order(OrderRequest("EUR/USD", "BUY", 10,
                                               user_order_id=8)), 10)
    account = io.run(broker.account(), 10)
    assert [(c.currency, c.amount) for c in account.cash] == [("EUR", Decimal("10000"))]


def test_a_pair_limit_waits_until_marketable(io: IoLoop, store: SqliteStore) -> None:
    broker = make(store)
    # paying EUR for USD at no less than 1.12 USD per EUR: not marketable at 1.10
    io.run(broker.place_order(OrderRequest("EUR/USD", "SELL", 100, user_order_id=9,
                                           limit_price=Decimal("1.12"))), 10)
    assert [o.status for o in io.run(broker.open_orders(), 10)] == [10]
    io.run(broker.set_price("EUR/USD", Decimal("1.1250"), "USD"), 10)
    assert io.run(broker.open_orders(), 10) == ()
    account = io.run(broker.account(), 10)
    assert account.cash_in("EUR") == Decimal("9900")


@settings(max_examples=100, deadline=None)
@given(cash=st.dictionaries(st.sampled_from(["EUR", "USD", "GBP", "HKD"]),
                            st.decimals(Decimal("-500"), Decimal("5000"), places=2)),
       symbol=st.sampled_from(["EUR/USD", "EUR/GBP", "GBP/USD", "HKD/EUR",
                               "HKD/USD"]),
       side=st.sampled_from(["BUY", "SELL"]), qty=st.integers(1, 5000),
       price=st.decimals(Decimal("0.01"), Decimal("10"), places=4),
       fee=st.decimals(Decimal("0"), Decimal("5"), places=2))
def test_ledger_exchange_is_exact_and_never_borrows(cash: dict[str, Decimal], symbol: str,
                                                    side: str, qty: int, price: Decimal,
                                                    fee: Decimal) -> None:
    from arduino_trader.domain.fx_exchange import pair_by_symbol

    pair = pair_by_symbol(symbol)
    assert pair is not None
    ledger = PaperLedger(dict(cash))
    try:
        ledger.apply_exchange(pair, side, qty, price, fee)  # type: ignore[arg-type]
    except PaperRefusal:
        assert ledger.cash == cash  # a refusal changes nothing
        return
    paid, got = pair.currencies(side)  # type: ignore[arg-type]
    base_delta = ledger.cash.get(pair.base, Decimal(0)) - cash.get(pair.base, Decimal(0))
    quote_delta = ledger.cash.get(pair.quote, Decimal(0)) - cash.get(pair.quote, Decimal(0))
    assert abs(base_delta) == qty and quote_delta == -(base_delta * price) - fee
    assert (base_delta > 0) == (got == pair.base)  # the received side got the base
    assert ledger.cash[paid] >= 0 or ledger.cash[paid] > cash.get(paid, Decimal(0))
    assert ledger.positions == {}
