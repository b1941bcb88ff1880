"""Facts the satellite manager gathers before a decision: bucket values in EUR, FX rates,
realised P&L of a sell, trailing returns.

Values come from the broker snapshot (prices of held symbols, per-currency cash) and the
executor's fills (which bucket holds what, ``domain/satellites/positions``): a satellite
holds the net quantity its fills bought, core the rest of every broker position; per
symbol the buckets add up to the broker quantity. A value that cannot be known (no
price, no FX rate, broker down) is None — never guessed.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from arduino_trader.adapters.store import market_repo
from arduino_trader.domain.satellites import aggression as aggr
from arduino_trader.domain.satellites import reawakening
from arduino_trader.domain.satellites.balances import BalanceBook
from arduino_trader.domain.satellites.positions import average_costs as bucket_average_costs
from arduino_trader.domain.satellites.positions import bucket_positions
from arduino_trader.protocols.broker import AccountSnapshot, Broker
from arduino_trader.protocols.broker_errors import BrokerError
from arduino_trader.protocols.bucket_trades import BucketTrades, ValuePoint
from arduino_trader.protocols.money import ZERO
from arduino_trader.protocols.runtime import IoRunner
from arduino_trader.protocols.satellite_records import CORE_ID, Bucket
from arduino_trader.protocols.store import Database

BROKER_TIMEOUT_S = 60.0
COOLDOWN_WINDOW = timedelta(days=30)


class MissingRate(LookupError):
    """No EUR rate is stored for a currency (a value is never converted 1:1)."""


@dataclass(frozen=True)
class Valuation:
    """Every bucket's EUR value (None = unknown) and the portfolio total (None when any
    part is unknown)."""

    values: Mapping[str, Decimal | None]
    total: Decimal | None
    error: str = ""


class Facts:
    """Reads the store and the broker for one decision: the rates, the broker snapshot
    and the attributed holdings are read once per instance."""

    def __init__(self, io: IoRunner, db: Database, trades: BucketTrades,
                 broker: Broker | None, fx_age: tuple[date, int] | None = None) -> None:
        self.io = io
        self.db = db
        self.trades = trades
        self.broker = broker
        self.fx_age = fx_age  # (today, market_data.fx_max_age_days): older rates unused
        self._account: AccountSnapshot | None = None
        self._holdings: dict[str, dict[str, Decimal]] | None = None
        self._rates: dict[str, Decimal] = {}

    def eur_per(self, currency: str) -> Decimal:
        """EUR value of one unit of ``currency``; :class:`MissingRate` when unknown."""
        if currency == "EUR":
            return Decimal(1)
        if currency not in self._rates:
            rate = market_repo.read_fx(self.db, currency)
            if rate is None or rate.eur_per <= 0:
                raise MissingRate(f"no EUR rate for {currency}")
            if self.fx_age is not None and (self.fx_age[0] - rate.day).days > self.fx_age[1]:
                raise MissingRate(f"no current EUR rate for {currency}: the newest is of "
                                  f"{rate.day.isoformat()}, older than {self.fx_age[1]} days")
            self._rates[currency] = rate.eur_per
        return self._rates[currency]

    def rate_or_none(self, currency: str) -> Decimal | None:
        """:meth:`eur_per`, or None when the rate is unknown."""
        try:
            return self.eur_per(currency)
        except MissingRate:
            return None

    def modes(self) -> tuple[str, ...]:
        """Which fills settle against the buckets: live ones, plus research fills when
        the configured broker is the paper broker (its cash is what we reconcile)."""
        return ("live", "research") if getattr(self.broker, "simulated", False) else ("live",)

    def account(self) -> AccountSnapshot:
        """The broker snapshot (raises BrokerError/TimeoutError; a failure is not kept)."""
        if self.broker is None:
            raise BrokerError("no broker is wired")
        if self._account is None:
            self._account = self.io.run(self.broker.account(), BROKER_TIMEOUT_S)
        return self._account

    def holdings(self) -> dict[str, dict[str, Decimal]]:
        """{bucket: {symbol: quantity}} attributed by the fills."""
        if self._holdings is None:
            self._holdings = self.trades.holdings(self.modes())
        return self._holdings

    @staticmethod
    def split(account: AccountSnapshot | None, held: Mapping[str, Mapping[str, Decimal]],
              buckets: Collection[str]) -> dict[str, dict[str, Decimal]]:
        """{bucket: {symbol: quantity}}: the broker positions split by the attributed
        fills (``domain/satellites/positions``); without the broker, the fills alone."""
        if account is None:
            return {b: dict(per) for b, per in held.items()}
        return bucket_positions({p.symbol: p.quantity for p in account.positions}, held,
                                buckets)

    def positions(self, buckets: Collection[str]) -> dict[str, dict[str, Decimal]] | None:
        """Every bucket's positions from the broker and the fills; None when the broker
        does not answer."""
        try:
            account = self.account()
        except (BrokerError, TimeoutError):
            return None
        return self.split(account, self.holdings(), buckets)

    def average_costs(self) -> dict[str, dict[str, Decimal]]:
        """{bucket: {symbol: average cost per share}} of each bucket's own open fills."""
        rows = self.trades.all_trades(self.modes())
        return bucket_average_costs((r.bucket_id, r.symbol, r.side, r.quantity, r.price)
                                    for r in rows)

    def valuation(self, buckets: Mapping[str, Bucket], book: BalanceBook) -> Valuation:
        """Each bucket's value: its positions (broker prices) + its cash in every currency."""
        error = ""
        try:
            account: AccountSnapshot | None = self.account()
        except (BrokerError, TimeoutError) as exc:
            account, error = None, f"broker: {exc}"
        held = self.holdings()
        prices = {} if account is None else {p.symbol: (p.market_price, p.currency,
                                                        p.quantity) for p in account.positions}
        split = self.split(account, held, buckets)
        values: dict[str, Decimal | None] = {}
        for bucket_id in buckets:
            if account is None and bucket_id == CORE_ID:
                values[bucket_id] = None  # core's holdings are only known from the broker
                continue
            values[bucket_id] = self._value(split.get(bucket_id, {}), prices,
                                            book.balances_of(bucket_id), account is not None)
        known = [v for v in values.values() if v is not None]
        total = sum(known, ZERO) if len(known) == len(values) else None
        return Valuation(values, total, error)

    def _value(self, positions: Mapping[str, Decimal],
               prices: Mapping[str, tuple[Decimal, str, Decimal]],
               cash: Mapping[str, Decimal], priced: bool) -> Decimal | None:
        total = ZERO
        try:
            for symbol, qty in positions.items():
                if qty == 0:
                    continue
                if not priced or symbol not in prices:
                    return None
                price, currency, _ = prices[symbol]
                total += qty * price * self.eur_per(currency)
            for currency, amount in cash.items():
                if amount:
                    total += amount * self.eur_per(currency)
        except MissingRate:
            return None
        return total

    def realized_pnl(self, bucket_id: str, symbol: str, trade_key: str) -> Decimal | None:
        """Realised P&L of the sell ``trade_key`` at the bucket's average cost (fees
        included); None when the bucket held nothing to sell."""
        rows = self.trades.bucket_trades(bucket_id, symbol, self.modes())
        qty, cost = ZERO, ZERO
        for row in rows:
            fee = row.fee or ZERO
            if row.side == "BUY":
                qty += row.quantity
                cost += row.value + fee
                continue
            if qty <= 0:
                return None if row.trade_key == trade_key else ZERO
            avg = cost / qty
            sold = min(row.quantity, qty)
            pnl = row.value - fee - avg * sold
            if row.trade_key == trade_key:
                return pnl
            qty -= sold
            cost -= avg * sold
        return None


def trailing_return(series: Sequence[ValuePoint], now: datetime, value_now: Decimal) -> Decimal:
    """Flow-adjusted return over the trailing 30 days (the win cooldown's input): from the
    newest point at least 30 days old (else the oldest) to ``value_now``; 0 without history."""
    if not series:
        return ZERO
    cutoff = (now - COOLDOWN_WINDOW).date()
    older = [p for p in series if p.day <= cutoff]
    start = older[-1] if older else series[0]
    flows = sum((p.net_flow_eur for p in series if p.day > start.day), ZERO)
    return reawakening.flow_adjusted_return(start.value_eur, value_now, flows)


def effective_aggression(bucket: Bucket, value: Decimal, total: Decimal,
                         series: Sequence[ValuePoint], now: datetime
                         ) -> tuple[Decimal, dict[str, Any]]:
    """Effective aggression of a satellite (aggression × re-awakening ×
    cooldown, read-only) and the
    components for the log/API."""
    base = aggr.calculate(value, bucket.target_pct, total, bucket.high_water_mark)
    cool = reawakening.evaluate_cooldown(bucket.cooldown, now,
                                         trailing_return(series, now, value))
    multiplier = reawakening.reawakening_multiplier(bucket.reawakening)
    eff = aggr.effective(base.aggression, multiplier, cool.multiplier)
    return eff, {"aggression": base.aggression, "limiting_factor": base.limiting_factor,
                 "drawdown": base.drawdown, "pct_of_target": base.pct_of_target,
                 "reawakening_multiplier": multiplier, "cooldown_multiplier": cool.multiplier,
                 "effective_aggression": eff}

