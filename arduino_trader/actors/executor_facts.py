"""Gathers what the safety pipeline needs for one order, from the store and the broker.

Each fact is fetched on its own; a fetch that fails leaves that fact ``None`` (unknown)
and is logged, so the pipeline blocks on exactly the facts it could not establish.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar

import structlog

from arduino_trader.adapters.store import (
    market_repo,
    securities_repo,
    trade_history_coverage,
)
from arduino_trader.config.settings import Settings
from arduino_trader.domain.execution.bucket_cash import (
    CORE,
    BucketCash,
    committed_eur,
    ledger_applies,
    ledger_cash_eur,
)
from arduino_trader.domain.execution.costs import CostModel
from arduino_trader.domain.execution.facts import (
    LedgerMode,
    OpenOrderFact,
    PriceFacts,
    SafetyFacts,
    SafetyLimits,
    SecurityFacts,
)
from arduino_trader.domain.execution.fx_safety import FxFacts, FxLimits
from arduino_trader.domain.fx_exchange import FxFee, FxPair
from arduino_trader.domain.position_limits import position_cap_decimal
from arduino_trader.protocols.broker import AccountSnapshot, Broker, Quote
from arduino_trader.protocols.execution import OrderIntent
from arduino_trader.protocols.money import ZERO
from arduino_trader.protocols.runtime import IoRunner
from arduino_trader.protocols.store import Database

from .base import ActorContext
from .dependencies import Dependencies

T = TypeVar("T")
log = structlog.get_logger(actor="executor")

BROKER_TIMEOUT_S = 30.0
HIGH_52W_DAYS = 365
MarketOpen = Callable[[str, datetime], bool]


def safety_limits(settings: Settings, *, simulate: bool = False,
                  universe_size: int = 0) -> SafetyLimits:
    """The pipeline's limits from the settings in force now; the position cap scales with
    ``universe_size`` like the planner's (domain/position_limits.py).

    A live order needs a quote at most 15 minutes old. A research rehearsal fills at the
    latest known price, so it is held to the data rule (``max_price_age_hours``) instead.
    """
    quote_age = timedelta(hours=settings.typed.max_price_age_hours) if simulate \
        else timedelta(minutes=15)
    return SafetyLimits(
        max_quote_age=quote_age,
        costs=CostModel.from_settings(settings),
        buy_cooldown_days=settings.typed.buy_cooldown_days,
        rebuy_cooldown_days=settings.typed.rebuy_cooldown_days,
        max_position_fraction=position_cap_decimal(
            Decimal(str(settings.typed.max_position_fraction)),
            Decimal(str(settings.typed.position_cap_universe_multiple)), universe_size),
        min_hold_days=settings.typed.min_hold_days,
        frequency_enabled=settings.typed.trade_frequency_limits_enabled,
        min_minutes_between_trades=settings.typed.min_time_between_trades_minutes,
        max_trades_per_day=settings.typed.max_trades_per_day,
        max_trades_per_week=settings.typed.max_trades_per_week,
        limit_buffer=Decimal(str(settings.typed.limit_order_buffer_percent)),
        max_buy_vs_52w_high=Decimal(str(settings.typed.max_buy_vs_52w_high)),
    )


def fx_limits(settings: Settings) -> FxLimits:
    """The exchange layers' limits from the settings in force now."""
    return FxLimits(max_exchange_eur=settings.typed.fx_max_exchange_eur,
                    max_quote_age=timedelta(minutes=settings.typed.fx_max_quote_age_minutes))


def fx_fee(settings: Settings, quote_per_eur: Decimal) -> FxFee:
    """The configured trading cost as charged on a pair order, in its quote currency
    (the fixed EUR part converted with ``quote_per_eur`` units per 1 EUR)."""
    costs = CostModel.from_settings(settings)
    return FxFee(costs.fixed_eur * quote_per_eur, costs.fraction)


def limits_in_force(store: Database, settings: Settings, simulate: bool) -> SafetyLimits:
    """The safety limits in force, the position cap scaled by the active universe."""
    rows = securities_repo.list_securities(store, active_only=True)
    return safety_limits(settings, simulate=simulate, universe_size=len(rows))


@dataclass
class Gathered:
    """The facts plus what order construction needs afterwards."""

    facts: SafetyFacts
    quote: Quote | None
    security: dict[str, Any] | None


class FactsGatherer:
    """Fetches facts from the store (directly) and the broker (through the I/O loop); one
    instance per order."""

    def __init__(self, io: IoRunner, deps: Dependencies, broker: Broker,
                 market_open: MarketOpen | None, mode: LedgerMode) -> None:
        self._io = io
        self._store = deps.store
        self._journal = deps.order_journal
        self._prices = deps.price_history
        self._ledger = deps.cash_flows
        self._buckets = deps.buckets
        self._broker = broker
        self._market_open = market_open
        self._mode = mode
        self._fx_age: tuple[date, int] | None = None  # (today, max age): set by gather

    def _try(self, what: str, make: Callable[[], Coroutine[Any, Any, T]],
             timeout: float) -> T | None:
        """A broker fact (on the I/O loop); None, logged, when it cannot be had."""
        try:
            return self._io.run(make(), timeout)
        except Exception as exc:
            log.warning("safety_fact_unknown", fact=what, error=f"{type(exc).__name__}: {exc}")
            return None

    @staticmethod
    def _fact(what: str, read: Callable[[], T]) -> T | None:
        """A stored fact (read on this thread); None, logged, when it cannot be had."""
        try:
            return read()
        except Exception as exc:
            log.warning("safety_fact_unknown", fact=what, error=f"{type(exc).__name__}: {exc}")
            return None

    def eur_rate(self, currency: str, on: date | None = None) -> Decimal | None:
        """Units of ``currency`` per 1 EUR from the stored rates; None when unknown."""
        if currency == "EUR":
            return Decimal(1)
        rate = self._fact("fx_rate", lambda: market_repo.read_fx(self._store, currency, on))
        if rate is None or rate.eur_per <= 0 or (on is None and self._fx_age is not None and (
                self._fx_age[0] - rate.day).days > self._fx_age[1]):  # stale: unknown
            return None
        return Decimal(1) / rate.eur_per

    def gather(self, intent: OrderIntent, now: datetime, settings: Settings,
               bucket_id: str = CORE) -> Gathered:
        """Every fact the pipeline reads for ``intent``, placed for ``bucket_id``."""
        store, broker = self._store, self._broker
        self._fx_age = (now.date(), settings.typed.market_data.fx_max_age_days)
        security = self._fact("security", lambda: securities_repo.get_security(store, intent.isin))
        sec = None if security is None else SecurityFacts(
            isin=str(security["isin"]), symbol=str(security["symbol"]),
            currency=str(security["currency"]), exchange=str(security.get("mic") or ""),
            active=bool(security["active"]), allow_buy=bool(security["allow_buy"]),
            allow_sell=bool(security["allow_sell"]), min_lot=int(security["min_lot"]))
        symbol = sec.symbol if sec else intent.symbol
        lookback = max(settings.typed.min_hold_days, settings.typed.buy_cooldown_days,
                       8)
        trades = self._fact("trades", lambda: self._journal.ledger_trades(
            now - timedelta(days=lookback + 1)))
        account = self._try("account", broker.account, BROKER_TIMEOUT_S)
        quotes = self._try("quote", lambda: broker.quotes((symbol,)), BROKER_TIMEOUT_S)
        quote = next((q for q in quotes or () if q.symbol.upper() == symbol.upper()), None)
        open_orders = self._try("open_orders", broker.open_orders, BROKER_TIMEOUT_S)
        known = self._fact("trade_history", lambda: trade_history_coverage.is_covered(
            store, self._mode, intent.isin))
        unresolved = self._fact("unresolved",
                                lambda: self._journal.unresolved_isins(self._mode))
        rate = self.eur_rate(sec.currency) if sec else None
        price = self._price(intent, quote, now) if sec else None
        held = None if account is None else sum(
            (p.quantity for p in account.positions if p.symbol.upper() == symbol.upper()), ZERO)
        facts = SafetyFacts(
            now=now, trading_mode=settings.typed.trading_mode, security=sec,
            quantity_held=held, trades=None if trades is None else tuple(trades),
            market_open=self._open(sec, now),
            cash=None if account is None else _cash(account), fx_rate=rate,
            open_orders=None if open_orders is None else tuple(
                OpenOrderFact(o.symbol, intent.isin if o.symbol.upper() == symbol.upper()
                              else "", o.side, o.leaves_quantity, o.limit_price, o.currency)
                for o in open_orders),
            unresolved_isins=unresolved, price=price,
            day_pnl_fraction=None if account is None else self._day_pnl(account, now),
            portfolio_value_eur=None if account is None else self._portfolio_eur(account),
            position_value_eur=None if held is None or price is None or rate is None
            else held * price.price / rate,
            bucket=self._bucket_cash(bucket_id, settings) if intent.side == "BUY" else None,
            trade_history_known=known)
        return Gathered(facts, quote, security)

    def _bucket_cash(self, bucket_id: str, settings: Settings) -> BucketCash | None:
        """The bucket's ledger cash in EUR (core adds research mode's virtual cash, as the
        planner does) and what its open buys will still spend; None when no satellite
        exists (the ledger is not in use)."""
        buckets = self._fact("buckets", self._buckets.load_buckets)
        if buckets is not None and not ledger_applies(buckets):
            return None
        ledger = self._fact("bucket_cash", self._ledger.bucket_cash)
        if buckets is None or ledger is None:
            return BucketCash(bucket_id, None)
        balances = ledger.get(bucket_id, {})
        open_buys = self._journal.open_buys(self._mode)
        eur_per: dict[str, Decimal] = {}
        for currency in {*balances, *(b.currency for b in open_buys)}:
            rate = self.eur_rate(currency)
            if rate is not None and rate > 0:
                eur_per[currency] = Decimal(1) / rate
        cash = ledger_cash_eur(balances, eur_per)
        committed = committed_eur(open_buys, bucket_id, eur_per)
        if cash is None or committed is None:
            return BucketCash(bucket_id, None)
        if bucket_id == CORE and self._mode == "research":
            cash += settings.typed.virtual_test_cash
        return BucketCash(bucket_id, cash, committed)

    def gather_fx(self, pair: FxPair, now: datetime, settings: Settings) -> FxFacts:
        """Every fact the exchange layers read for an order on ``pair``."""
        self._fx_age = (now.date(), settings.typed.market_data.fx_max_age_days)
        account = self._try("account", self._broker.account, BROKER_TIMEOUT_S)
        quotes = self._try("quote", lambda: self._broker.quotes((pair.symbol,)),
                           BROKER_TIMEOUT_S)
        quote = next((q for q in quotes or () if q.symbol.upper() == pair.symbol.upper()),
                     None)
        open_orders = self._try("open_orders", self._broker.open_orders, BROKER_TIMEOUT_S)
        unresolved = self._fact("unresolved",
                                lambda: self._journal.unresolved_isins(self._mode))
        eur_per: dict[str, Decimal] = {}
        for currency in (pair.base, pair.quote):
            rate = self.eur_rate(currency)
            if rate is not None and rate > 0:
                eur_per[currency] = Decimal(1) / rate
        return FxFacts(
            now=now, trading_mode=settings.typed.trading_mode, pair=pair,
            bid=None if quote is None else quote.bid, ask=None if quote is None else quote.ask,
            quoted_at=None if quote is None else quote.at,
            cash=None if account is None else _cash(account),
            open_orders=None if open_orders is None else tuple(
                OpenOrderFact(o.symbol, "", o.side, o.leaves_quantity, o.limit_price,
                              o.currency) for o in open_orders),
            unresolved_isins=unresolved, eur_per_unit=eur_per,
            min_step=None if quote is None else quote.min_step)

    def _open(self, sec: SecurityFacts | None, now: datetime) -> bool | None:
        if sec is None or not sec.exchange or self._market_open is None:
            return None
        try:
            return self._market_open(sec.exchange, now)
        except Exception as exc:
            log.warning("safety_fact_unknown", fact="market_open", error=str(exc))
            return None

    def _price(self, intent: OrderIntent, quote: Quote | None, now: datetime) -> PriceFacts | None:
        if quote is None or quote.at is None:
            return None
        ref = quote.ask if intent.side == "BUY" else quote.bid
        if ref is None:
            return None
        history = self._fact("history", lambda: self._prices.read_history(
            intent.isin, (now - timedelta(days=HIGH_52W_DAYS)).date())) or []
        closes = tuple(Decimal(str(b.close)) for b in history[-30:])
        high = max((Decimal(str(b.high if b.high else b.close)) for b in history), default=None)
        return PriceFacts(ref, quote.at, closes, high)

    def _portfolio_eur(self, account: AccountSnapshot) -> Decimal | None:
        total = ZERO
        for pos in account.positions:
            rate = self.eur_rate(pos.currency)
            if rate is None:
                return None
            total += pos.quantity * pos.market_price / rate
        for cash in account.cash:
            rate = self.eur_rate(cash.currency)
            if rate is None:
                return None
            total += cash.amount / rate
        return total

    def _day_pnl(self, account: AccountSnapshot, now: datetime) -> Decimal | None:
        """Today's change of the held positions as a fraction of the portfolio."""
        total = self._portfolio_eur(account)
        if total is None or total <= 0:
            return None if total is None else ZERO
        symbols = tuple(p.symbol for p in account.positions)
        if not symbols:
            return ZERO
        quotes = self._try("day_pnl_quotes", lambda: self._broker.quotes(symbols),
                           BROKER_TIMEOUT_S)
        if quotes is None:
            return None
        by_symbol = {q.symbol.upper(): q for q in quotes}
        change = ZERO
        for pos in account.positions:
            q = by_symbol.get(pos.symbol.upper())
            rate = self.eur_rate(pos.currency)
            if q is None or q.last is None or rate is None:
                return None
            prev = q.prev_close if q.prev_close is not None else self._stored_prev_close(
                pos.symbol, now.date())
            if prev is None:
                return None
            change += pos.quantity * (q.last - prev) / rate
        return change / total

    def _stored_prev_close(self, symbol: str, day: date) -> Decimal | None:
        """The last stored close before ``day`` (brokers like the paper broker send no
        previous close)."""
        security = self._fact("prev_close", lambda: securities_repo.find_security(
            self._store, symbol))
        if security is None:
            return None
        bars = self._fact("prev_close", lambda: self._prices.read_history(
            str(security["isin"]), day - timedelta(days=10), day - timedelta(days=1)))
        return Decimal(str(bars[-1].close)) if bars else None


def facts_gatherer(ctx: ActorContext, mode: LedgerMode, broker: Broker) -> FactsGatherer:
    """A gatherer for one order of ``mode`` through ``broker``; market hours come from the
    calendars when they are wired (else unknown)."""
    calendars = ctx.deps.calendars
    market_open = None if calendars is None else calendars.is_tradable
    return FactsGatherer(ctx.io, ctx.deps, broker, market_open, mode)


def _cash(account: AccountSnapshot) -> dict[str, Decimal]:
    out: dict[str, Decimal] = {}
    for row in account.cash:
        out[row.currency] = out.get(row.currency, ZERO) + row.amount
    return out
