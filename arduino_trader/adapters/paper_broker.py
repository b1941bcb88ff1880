"""The paper broker: the broker port in-process, with simulated money.

Orders fill at the next available price its :class:`PriceSource` gives (for a replay,
the first close not yet published when the order is placed: a decision never trades at a
price it could see), moved against the order by the configured slippage
(``broker.paper_slippage_bps``; not on currency exchanges), market orders at once, limit
orders when marketable (re-checked on every read) until the end of their UTC day, when
an unfilled one expires (every order is a day order); they pay the configured fees
(``transaction_cost_fixed`` EUR converted to the trade currency + ``transaction_cost_percent``
of the value), and never borrow: a BUY needs the cash, a SELL the shares. The account lives
in the store (migration ``0100_broker.sql``); every record is marked simulated.

FX-pair symbols (``EUR/USD``, ``HKD/EUR``...; domain/fx_exchange.py) are priced
from the EUR rates (quote units per base unit) unless the price source knows them, and a
filled pair order moves cash in its two currencies exactly (base ± quantity, quote ∓
quantity × price, the fee in the quote currency) instead of opening a position.

:class:`PaperLedger` (``paper_ledger.py``) is the pure accounting core (no I/O), so its
invariants are tested on their own; the price sources are in ``paper_prices.py``, the
account's rows in ``paper_rows.py``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from arduino_trader.domain.fx_exchange import pair_by_symbol
from arduino_trader.protocols.broker import (
    AccountSnapshot,
    Candle,
    CashBalance,
    CashFlow,
    CpsRequest,
    FinderHit,
    MarketState,
    Order,
    OrderAck,
    OrderRequest,
    Position,
    Quote,
    SecurityInfo,
    Side,
    Trade,
)
from arduino_trader.protocols.broker_errors import BrokerRejected, BrokerUnsupported
from arduino_trader.protocols.clock import Clock
from arduino_trader.protocols.money import decimal_to_str
from arduino_trader.protocols.store import Database, Transaction

from .paper_ledger import ZERO, PaperFees, PaperLedger, PaperRefusal
from .paper_prices import (
    FillPriceSource,
    PriceSource,
    StoredPrices,
    marketable,
    on_tick,
    slipped,
)
from .paper_rows import (
    cash_flow_rows,
    ensure_account,
    expire_day_orders,
    from_stamp,
    order_of_row,
    read_ledger,
    save_ledger,
    to_stamp,
    trade_of_row,
)

FLOW_MEMO_LIMIT = 100_000  # converted cash-flow rows kept (then the memo starts over)


class PaperBroker:
    """The :class:`~arduino_trader.protocols.broker.Broker` port on a simulated account."""

    simulated = True

    def __init__(self, store: Database, clock: Clock, *, fees: Callable[[], PaperFees],
                 prices: PriceSource | None = None,
                 eur_rates: Callable[[], Mapping[str, Decimal]] | None = None,
                 initial_cash_eur: Decimal = Decimal("10000"),
                 slippage_bps: Callable[[], Decimal] = lambda: ZERO) -> None:
        self.store = store
        self.slippage_bps = slippage_bps
        self.clock = clock
        self.fees = fees
        self.prices: PriceSource = prices or StoredPrices(store)
        self.eur_rates = eur_rates or (lambda: {"EUR": Decimal(1)})
        self.initial_cash_eur = initial_cash_eur
        # Cash-flow rows already converted, by their whole content: the ledger is read
        # back whole every sync, and rows are only ever added.
        self._flows: dict[tuple[Any, ...], CashFlow] = {}

    async def _price(self, symbol: str) -> tuple[Decimal, str] | None:
        """The price source's quote; an FX pair it does not know is the cross of the EUR
        rates (None when a rate is missing: never 1:1)."""
        quote = await self.prices.price(symbol)
        pair = pair_by_symbol(symbol)
        if quote is not None or pair is None:
            return quote
        rates = self.eur_rates()
        base, quote_rate = rates.get(pair.base), rates.get(pair.quote)
        if not base or not quote_rate:
            return None
        return on_tick(pair, quote_rate / base), pair.quote

    async def _fill_price(self, symbol: str, side: str) -> tuple[Decimal, str] | None:
        """Where an order placed now fills: a security at the source's next price (its
        current one when the source has no notion of next) moved by the slippage; an FX
        pair at its current rate."""
        if pair_by_symbol(symbol) is not None or not isinstance(self.prices, FillPriceSource):
            quote = await self._price(symbol)
        else:
            quote = await self.prices.fill_price(symbol)
        if quote is None or pair_by_symbol(symbol) is not None:
            return quote
        return slipped(quote[0], side, self.slippage_bps()), quote[1]

    # ----------------------------------------------------------------- account
    def _open_account(self) -> PaperLedger:
        """Open the account if it is new; its ledger."""
        with self.store.transaction() as tx:
            ensure_account(tx, self.clock, self.initial_cash_eur)
            return read_ledger(tx)

    async def deposit(self, currency: str, amount: Decimal, comment: str = "paper deposit") -> None:
        """Book simulated cash in or out (negative amounts withdraw)."""
        def book() -> None:
            with self.store.transaction() as tx:
                ensure_account(tx, self.clock, self.initial_cash_eur)
                ledger = read_ledger(tx)
                ledger.cash[currency] = ledger.cash.get(currency, ZERO) + amount
                save_ledger(tx, ledger)
                tx.execute("INSERT INTO paper_cash_flows (type_code, amount, currency, at, "
                           "comment) VALUES (?, ?, ?, ?, ?)",
                           ("deposit" if amount >= 0 else "withdrawal",
                            decimal_to_str(amount), currency, to_stamp(self.clock.now()), comment))

        await asyncio.to_thread(book)

    async def set_price(self, symbol: str, price: Decimal, currency: str) -> None:
        """Record a market price for :class:`StoredPrices` (and fill marketable limits)."""
        if price <= 0:
            raise ValueError("price must be positive")
        await asyncio.to_thread(
            self.store.execute,
            "INSERT INTO paper_prices (symbol, price, currency, at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (symbol) DO UPDATE SET price = excluded.price, "
            "currency = excluded.currency, at = excluded.at",
            (symbol, decimal_to_str(price), currency, to_stamp(self.clock.now())))

    async def probe(self) -> str:
        """Always reachable: it is local."""
        await asyncio.to_thread(self._open_account)
        return "paper broker (simulated account)"

    async def account(self) -> AccountSnapshot:
        """Simulated positions (valued at the price source) and cash."""
        still_open, ledger = await asyncio.to_thread(self._expire_and_read)
        if still_open:  # a limit that became marketable fills first: read after it
            await self._fill_marketable(still_open)
            ledger = await asyncio.to_thread(self._open_account)
        quotes = await self.prices.prices(sorted(ledger.positions))
        rates = self.eur_rates()
        positions = []
        for symbol, (qty, avg, currency) in sorted(ledger.positions.items()):
            quote = quotes.get(symbol)
            positions.append(Position(symbol=symbol, quantity=qty, avg_price=avg,
                                      market_price=quote[0] if quote else avg,
                                      currency=currency, currency_rate=rates.get(currency)))
        cash = tuple(CashBalance(currency=c, amount=a, currency_rate=rates.get(c))
                     for c, a in sorted(ledger.cash.items()))
        return AccountSnapshot(tuple(positions), cash, simulated=True)

    async def quotes(self, symbols: tuple[str, ...]) -> tuple[Quote, ...]:
        """Quotes from the price source (bid = ask = last)."""
        out = []
        for symbol in symbols:
            quote = await self._price(symbol)
            if quote is not None:
                out.append(Quote(symbol=symbol, last=quote[0], bid=quote[0], ask=quote[0],
                                 prev_close=None, currency=quote[1], at=self.clock.now()))
        return tuple(out)

    # ------------------------------------------------------------------ orders
    async def place_order(self, request: OrderRequest) -> OrderAck:
        """Book the order; fill at once if it is marketable."""
        quote = await self._fill_price(request.symbol, request.side)
        if quote is None:
            raise BrokerRejected(f"paper broker has no market price for {request.symbol}",
                                 command="putTradeOrder")
        return await asyncio.to_thread(self._book_order, request, quote)

    def _book_order(self, request: OrderRequest, quote: tuple[Decimal, str]) -> OrderAck:
        now = to_stamp(self.clock.now())
        with self.store.transaction() as tx:
            ensure_account(tx, self.clock, self.initial_cash_eur)
            dup = tx.fetch_one("SELECT order_id FROM paper_orders WHERE user_order_id = ?",
                               (request.user_order_id,))
            if dup is not None:
                raise BrokerRejected(f"duplicate user_order_id {request.user_order_id}",
                                     command="putTradeOrder")
            cursor = tx.execute(
                "INSERT INTO paper_orders (user_order_id, symbol, side, quantity, limit_price, "
                "currency, status, placed_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, 10, ?, ?)",
                (request.user_order_id, request.symbol, request.side, request.quantity,
                 decimal_to_str(request.limit_price) if request.limit_price else None,
                 quote[1], now, now))
            order_id = int(cursor.lastrowid or 0)
            if marketable(request.symbol, request.side, request.limit_price, quote[0]):
                self._fill(tx, order_id, request.side, request.symbol, quote[1],
                           request.quantity, quote[0], now, refuse=True)
        return OrderAck(order_id=order_id, user_order_id=request.user_order_id, simulated=True)

    def _fill(self, tx: Transaction, order_id: int, side: Side, symbol: str,
              currency: str, quantity: int, price: Decimal, now: int, *,
              refuse: bool) -> None:
        ledger = read_ledger(tx)
        value = price * quantity
        fee = self.fees().fee(value, self.eur_rates().get(currency))
        pair = pair_by_symbol(symbol)
        try:
            if pair is not None:
                ledger.apply_exchange(pair, side, quantity, price, fee)
            else:
                ledger.apply_fill(side, symbol, currency, quantity, price, fee)
        except PaperRefusal as exc:
            if refuse:
                raise BrokerRejected(f"paper broker refused the order: {exc}",
                                     command="putTradeOrder") from None
            tx.execute("UPDATE paper_orders SET status = 70, updated_at = ? "
                       "WHERE order_id = ?", (now, order_id))
            return
        save_ledger(tx, ledger)
        tx.execute("INSERT INTO paper_trades (order_id, symbol, side, quantity, price, "
                   "value, fee, currency, executed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                   (order_id, symbol, side, quantity, decimal_to_str(price),
                    decimal_to_str(value), decimal_to_str(fee), currency, now))
        tx.execute("UPDATE paper_orders SET status = 21, updated_at = ? "
                   "WHERE order_id = ?", (now, order_id))
        if fee:
            tx.execute("INSERT INTO paper_cash_flows (type_code, amount, currency, at, "
                       "comment) VALUES ('commission_for_trades', ?, ?, ?, 'paper "
                       "commission (Trade ' || last_insert_rowid() || '), order ' || ?)",
                       (decimal_to_str(-fee), currency, now, order_id))  # names its trade

    async def _sweep(self) -> None:
        """Expire earlier days' orders; fill open limits that became marketable."""
        def expire() -> list[Any]:
            with self.store.transaction() as tx:
                return expire_day_orders(tx, self.clock.now())

        await self._fill_marketable(await asyncio.to_thread(expire))

    def _expire_and_read(self) -> tuple[list[Any], PaperLedger]:
        """The orders still open after :func:`expire_day_orders` and the ledger (the
        account opened if new), in one transaction: one trip off the event loop where
        there were three."""
        with self.store.transaction() as tx:
            still_open = expire_day_orders(tx, self.clock.now())
            ensure_account(tx, self.clock, self.initial_cash_eur)
            return still_open, read_ledger(tx)

    async def _fill_marketable(self, rows: Sequence[Any]) -> None:
        """Fill each open order of ``rows`` whose limit the price now reaches."""
        for row in rows:
            quote = await self._fill_price(row["symbol"], row["side"])
            limit = Decimal(row["limit_price"]) if row["limit_price"] else None
            if quote is None or not marketable(row["symbol"], row["side"], limit, quote[0]):
                continue
            await asyncio.to_thread(self._fill_if_open, row, quote[0])

    def _fill_if_open(self, row: Any, price: Decimal) -> None:
        """Fill the open order ``row`` at ``price`` unless it was closed meanwhile."""
        with self.store.transaction() as tx:
            still = tx.fetch_one("SELECT status FROM paper_orders WHERE order_id = ?",
                                 (row["order_id"],))
            if still is None or still["status"] != 10:
                return
            self._fill(tx, int(row["order_id"]), row["side"], row["symbol"],
                       row["currency"], int(row["quantity"]), price,
                       to_stamp(self.clock.now()), refuse=False)

    async def cancel_order(self, order_id: int) -> None:
        """Cancel an open order."""
        count = await asyncio.to_thread(
            self.store.execute,
            "UPDATE paper_orders SET status = 31, updated_at = ? "
            "WHERE order_id = ? AND status = 10", (to_stamp(self.clock.now()), order_id))
        if count != 1:
            raise BrokerRejected(f"order {order_id} is not open", command="delTradeOrder")

    async def _orders(self, where: str, params: tuple[Any, ...]) -> tuple[Order, ...]:
        rows = await asyncio.to_thread(
            self.store.fetch_all,
            f"SELECT o.*, t.trade_id, t.price AS fill_price, t.executed_at "  # noqa: S608
            f"FROM paper_orders o LEFT JOIN paper_trades t USING (order_id) WHERE {where} "
            "ORDER BY o.order_id", params)
        return tuple(order_of_row(r) for r in rows)

    async def open_orders(self) -> tuple[Order, ...]:
        """Orders still open."""
        await self._sweep()
        return await self._orders("o.status = 10", ())

    async def current_orders(self) -> tuple[Order, ...]:
        """Orders of the current UTC day plus any still open."""
        await self._sweep()
        start = datetime.combine(self.clock.now().date(), datetime.min.time(), UTC)
        return await self._orders("o.status = 10 OR o.placed_at >= ?", (to_stamp(start),))

    async def find_order(self, user_order_id: int) -> Order | None:
        """The order with that client id."""
        found = await self._orders("o.user_order_id = ?", (user_order_id,))
        return found[0] if found else None

    async def order_history(self, start: datetime, end: datetime) -> tuple[Order, ...]:
        """Orders placed in ``[start, end]``."""
        return await self._orders("o.placed_at BETWEEN ? AND ?", (to_stamp(start), to_stamp(end)))

    async def trades(self, start: date, end: date) -> tuple[Trade, ...]:
        """Simulated fills between two dates (inclusive)."""
        lo = to_stamp(datetime.combine(start, datetime.min.time(), UTC))
        hi = to_stamp(datetime.combine(end, datetime.max.time(), UTC))
        rows = await asyncio.to_thread(
            self.store.fetch_all,
            "SELECT * FROM paper_trades WHERE executed_at BETWEEN ? AND ? ORDER BY trade_id",
            (lo, hi))
        return tuple(trade_of_row(r) for r in rows)

    async def cash_flows(self, take: int = 500, skip: int = 0) -> tuple[CashFlow, ...]:
        """Simulated cash movements, newest first."""
        def read() -> list[Any]:
            with self.store.transaction() as tx:  # the account opened first if new
                ensure_account(tx, self.clock, self.initial_cash_eur)
                return cash_flow_rows(tx, take, skip)

        rows = await asyncio.to_thread(read)
        if len(self._flows) > FLOW_MEMO_LIMIT:
            self._flows.clear()
        out: list[CashFlow] = []
        for r in rows:
            row = tuple(r)
            flow = self._flows.get(row)
            if flow is None:
                flow_id, type_code, amount, currency, at, comment = row
                flow = self._flows[row] = CashFlow(
                    flow_id=f"paper-{flow_id}", type_code=type_code, amount=Decimal(amount),
                    currency=currency, at=from_stamp(at), comment=comment, simulated=True)
            out.append(flow)
        return tuple(out)

    async def client_requests(self, start: datetime, end: datetime) -> tuple[CpsRequest, ...]:
        """The paper account has no client requests."""
        return ()

    async def security_info(self, symbol: str) -> SecurityInfo:
        """Currency from the price source; lot 1."""
        quote = await self._price(symbol)
        if quote is None:
            raise BrokerRejected(f"paper broker knows no price for {symbol}",
                                 command="getSecurityInfo")
        return SecurityInfo(symbol=symbol, name=symbol, currency=quote[1], min_step=None, lot=1)

    async def find_security(self, text: str) -> tuple[FinderHit, ...]:
        """Not available offline."""
        raise BrokerUnsupported("the paper broker cannot search securities",
                                command="tickerFinder")

    async def top_securities(self, exchange: str, *, kind: str = "stocks",
                             gainers: bool = False, limit: int = 10) -> tuple[str, ...]:
        """Not available offline (discovery then screens the market-data source)."""
        raise BrokerUnsupported("the paper broker has no screens", command="getTopSecurities")

    async def market_status(self, market: str = "*") -> tuple[MarketState, ...]:
        """The paper market is always open."""
        return (MarketState(code="PAPER", name="Paper market", market_id=None, is_open=True),)

    async def cross_rates(self, base: str, currencies: tuple[str, ...],
                    on: date | None = None) -> dict[str, Decimal]:
        """From the configured EUR rates; a missing rate is an error, never a guess."""
        rates = self.eur_rates()
        if base not in rates or any(c not in rates for c in currencies):
            raise BrokerUnsupported(f"paper broker has no rate for {base}->{currencies}",
                                    command="getCrossRatesForDate")
        return {c: rates[c] / rates[base] for c in currencies}

    async def daily_history(self, symbol: str, start: datetime,
                      end: datetime) -> tuple[Candle, ...]:
        """Not available: history comes from the market-data adapter."""
        raise BrokerUnsupported("the paper broker has no price history", command="getHloc")

    async def close(self) -> None:
        """Nothing to release."""
