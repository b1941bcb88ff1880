"""What the planner actor reads before planning: universe, aligned price history, FX,
the account of the current mode, the trade ledger, the regime and the settings — turned
into one :class:`PlanInput` plus the portfolio hash. Runs in the planner's thread: the
store is read directly, the broker through ``io.run`` with a timeout.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import numpy as np
import numpy.typing as npt

from arduino_trader.adapters.store import (
    allocation_repo,
    dividend_repo,
    market_repo,
    plan_repo,
    regime_repo,
    securities_repo,
    trade_history_coverage,
)
from arduino_trader.adapters.store.price_history_repo import SqlitePriceHistory
from arduino_trader.config.settings import Settings
from arduino_trader.domain import regime as rg
from arduino_trader.domain.execution.costs import minimum_trade_eur
from arduino_trader.domain.planner.groups import (
    dividend_bonuses,
    grouped_industry,
    industries_of,
    member_to_group,
    with_bonuses,
)
from arduino_trader.domain.planner.models import (
    FORWARD_SYMBOLS,
    Holding,
    MarketIndicators,
    PlanInput,
    PlannerSettings,
    SecurityInfo,
)
from arduino_trader.domain.planner_hash import HashSecurity, PendingOrder, portfolio_hash
from arduino_trader.domain.scoring.fundamentals import fundamentals_from_data
from arduino_trader.domain.scoring.scorers import Fundamentals
from arduino_trader.protocols.broker import AccountSnapshot
from arduino_trader.protocols.market_data import MarketDataError
from arduino_trader.protocols.runtime import IoRunner
from arduino_trader.protocols.store import Database

from .history_cache import Closes, HistoryCache
from .planner_wait import Missing

BROKER_TIMEOUT_S = 60.0
REGIME_INDEX = "^GSPC"


@dataclass(frozen=True)
class Gathered:
    """A ready planning input, its portfolio hash, and what was left out and why."""

    plan_input: PlanInput
    portfolio_hash: str
    isins: dict[str, str]
    warnings: tuple[str, ...] = ()
    details: dict[str, Any] = field(default_factory=dict)
    unseen: Missing = field(default_factory=Missing)  # held, yet not in ``plan_input``


@dataclass(frozen=True)
class Allocation:
    """The owner's allocation as the planner sees it (see ``domain.planner.groups``)."""

    country_to_group: dict[str, str]
    industry_to_group: dict[str, str]
    country_targets: dict[str, float]
    industry_targets: dict[str, float]


def planner_settings(settings: Settings) -> PlannerSettings:
    """The planner's knobs from the effective settings (undeclared keys keep defaults)."""
    return PlannerSettings.from_settings(settings)


def aligned_prices(histories: Sequence[Closes], days: int) -> npt.NDArray[np.float64]:
    """[securities × days] closes on the union of trading days (last ``days``), NaN gaps."""
    if not histories:
        return np.zeros((0, 0))
    first = histories[0].days
    if all(np.array_equal(h.days, first) for h in histories[1:]):
        calendar = first[-days:]  # one calendar for all (the usual case): no union needed
    else:
        calendar = np.unique(np.concatenate([h.days for h in histories]))[-days:]
    n = len(calendar)
    out = np.full((len(histories), n), np.nan)
    for row, h in zip(out, histories, strict=True):
        if len(h.days) >= n and np.array_equal(h.days[len(h.days) - n:], calendar):
            row[:] = h.values[len(h.values) - n:]  # every day of the calendar, in order
            continue
        at = np.searchsorted(calendar, h.days)
        on = at < n
        on[on] = calendar[at[on]] == h.days[on]
        row[at[on]] = h.values[on]
    out[~(out > 0)] = np.nan  # missing and non-positive closes are gaps
    return out


def current_values(securities: list[SecurityInfo], prices: npt.NDArray[np.float64],
                   holdings: list[Holding]) -> dict[str, float]:
    """EUR value of each holding at its last known close (unpriced holdings are left out)."""
    row = {s.symbol: i for i, s in enumerate(securities)}
    out: dict[str, float] = {}
    for h in holdings:
        i = row.get(h.symbol)
        if i is None or h.quantity <= 0:
            continue
        finite = prices[i][np.isfinite(prices[i])]
        if finite.size and securities[i].fx_rate > 0:
            out[h.symbol] = h.quantity * float(finite[-1]) / securities[i].fx_rate
    return out


def _days(now: datetime, then: datetime | None) -> float | None:
    return None if then is None else max(0.0, (now - then).total_seconds() / 86400)


class InputGatherer:
    """Reads every fact a plan needs; a missing FX rate excludes its currency, never 1:1."""

    def __init__(self, io: IoRunner, store: Database, market_data: Any,
                 regime_cache: dict[date, float] | None = None,
                 history: HistoryCache | None = None,
                 indicators_cache: dict[date, MarketIndicators] | None = None) -> None:
        self.io = io
        self.store = store
        self.market_data = market_data
        self.regime_cache = {} if regime_cache is None else regime_cache
        self.history = HistoryCache(SqlitePriceHistory(store)) if history is None else history
        self.indicators_cache = {} if indicators_cache is None else indicators_cache


    def _eur_per(self, currencies: set[str], today: date,
                 warnings: list[str]) -> dict[str, Decimal]:
        rates: dict[str, Decimal] = {}
        for ccy in sorted(currencies):
            if ccy == "EUR":
                rates[ccy] = Decimal(1)
                continue
            fx = market_repo.read_fx(self.store, ccy, today)
            if fx is None or fx.eur_per <= 0:
                warnings.append(f"no FX rate for {ccy}: its securities, positions and cash "
                                "are left out of this plan")
                continue
            rates[ccy] = fx.eur_per
        return rates

    def _regime(self, today: date, cuts: rg.RegimeCuts, now: datetime,
                warnings: list[str]) -> float:
        """The regime score of ``today``, computed once a day from the index and smoothed
        over the last stored day's score (stored, so the smoothing survives restarts)."""
        if self.market_data is None:
            return 0.0
        if today in self.regime_cache:
            return self.regime_cache[today]
        previous = regime_repo.score_before(self.store, today)
        try:
            hist = self.market_data.history(REGIME_INDEX, today - timedelta(days=120), today)
            closes = np.array([b.close for b in hist.bars], dtype=np.float64)
        except MarketDataError as exc:  # no index data: the last score, else neutral
            kept = "last stored score kept" if previous is not None else "regime neutral"
            warnings.append(f"regime index {REGIME_INDEX} unavailable ({exc}); {kept}")
            return 0.0 if previous is None else previous
        regime = rg.regime_score({"SPX": closes}, previous=previous, weights={"SPX": 1.0},
                                 cuts=cuts)
        if regime.indices_used:
            regime_repo.write_regime(self.store, today, regime, now)
        else:
            warnings.append(f"regime index {REGIME_INDEX}: fewer than {rg.WINDOW + 1} "
                            "closes; last stored score kept")
        self.regime_cache.clear()
        self.regime_cache[today] = regime.score
        return regime.score

    def _indicators(self, today: date) -> MarketIndicators:
        """The optimiser's forward indicators from the last closes of ``^VIX``, ``^TNX`` and
        ``^IRX`` (read once a day); a symbol the source lacks stays unknown (adds 0)."""
        if self.market_data is None:
            return MarketIndicators()
        if today in self.indicators_cache:
            return self.indicators_cache[today]
        closes: dict[str, float | None] = {}
        for symbol in FORWARD_SYMBOLS:
            try:
                bars = self.market_data.history(symbol, today - timedelta(days=10), today).bars
                closes[symbol] = float(bars[-1].close) if bars else None
            except MarketDataError:  # no such series at this source: unknown, adds 0
                closes[symbol] = None
        indicators = MarketIndicators.from_last_closes(closes)
        self.indicators_cache.clear()
        self.indicators_cache[today] = indicators
        return indicators

    def gather(self, account: AccountSnapshot, mode: str, settings: Settings,
               now: datetime) -> Gathered:
        """One planning input from the store, ``account`` and ``settings``."""
        warnings: list[str] = []
        today = now.date()
        rows = securities_repo.list_securities(self.store, active_only=True)
        currencies = {str(r["currency"] or "EUR") for r in rows}
        currencies |= {p.currency for p in account.positions}
        currencies |= {c.currency for c in account.cash}
        rates = self._eur_per(currencies, today, warnings)
        usable = [r for r in rows if str(r["currency"] or "EUR") in rates]
        days = settings.typed.planner_history_days
        start = today - timedelta(days=int(days * 7 / 5) + 10)
        self.history.refresh()
        histories = self.history.closes_many([str(r["isin"]) for r in usable], start, today)
        self.history.forget({r["isin"] for r in usable})
        prices = aligned_prices(histories, days) if usable else np.zeros((0, 0))
        data = market_repo.read_security_data_many(
            self.store, [r["isin"] for r in usable])
        allocation = self._allocation(usable)
        securities = [self._security(r, rates, fundamentals_from_data(data[r["isin"]]),
                                     allocation.industry_to_group) for r in usable]
        isins = {str(r["symbol"]): str(r["isin"]) for r in rows}
        trades = plan_repo.last_trade_times(self.store, mode)
        covered = trade_history_coverage.covered_isins(self.store, mode)
        holdings: list[Holding] = []
        for p in account.positions:
            if p.currency not in rates:
                continue
            isin = isins.get(p.symbol, p.symbol)
            holdings.append(Holding(
                p.symbol, float(p.quantity), float(p.avg_price),
                days_since_last_buy=_days(now, trades.get((isin, "BUY"))),
                days_since_last_sell=_days(now, trades.get((isin, "SELL"))),
                trade_history_known=isin in covered or any(
                    (isin, side) in trades for side in ("BUY", "SELL"))))
        unseen = self._unseen(account, rows, rates, warnings)
        cash_eur = sum((c.amount * rates[c.currency] for c in account.cash
                        if c.currency in rates), Decimal(0))
        if mode == "research":
            cash_eur += settings.typed.virtual_test_cash
        last_buy = {s: d for s in isins if (d := _days(now, trades.get((isins[s], "BUY"))))
                    is not None}
        last_sell = {s: d for s in isins
                     if (d := _days(now, trades.get((isins[s], "SELL")))) is not None}
        ps = planner_settings(settings)
        regime = self._regime(today, ps.regime_cuts, now, warnings)
        market = self._indicators(today)
        hashed = self._hash(rows, account, mode)
        values = current_values(securities, prices, holdings)
        bonuses = dividend_bonuses(dividend_repo.pending_bonuses(self.store),
                                   values, minimum_trade_eur(settings))
        plan_input = PlanInput(with_bonuses(securities, bonuses), prices, holdings,
                               float(cash_eur), allocation.country_to_group,
                               allocation.country_targets, allocation.industry_targets,
                               regime_score=regime, days_since_last_buy=last_buy,
                               days_since_last_sell=last_sell,
                               settings=ps, market=market)
        total = sum(values.values()) + max(0.0, float(cash_eur))
        weights = {s: v / total for s, v in values.items()} if total > 0 else {}
        return Gathered(plan_input, hashed, isins, tuple(warnings),
                        {"securities": len(securities), "days": int(prices.shape[1])
                         if prices.ndim == 2 else 0, "holdings": len(holdings),
                         "cash_eur": float(cash_eur), "regime_score": regime, "mode": mode,
                         "market_indicators": market.__dict__,
                         "total_value_eur": total, "current_weights": weights,
                         "country_targets": dict(allocation.country_targets),
                         "industry_targets": dict(allocation.industry_targets),
                         "dividend_bonuses": bonuses}, unseen)

    @staticmethod
    def _unseen(account: AccountSnapshot, rows: Sequence[Mapping[str, Any]],
                rates: Mapping[str, Decimal], warnings: list[str]) -> Missing:
        """What the account holds that a plan cannot see: the currencies of positions and
        cash without an FX rate, and every held symbol while the universe is empty (not
        seeded yet). A holding outside a non-empty universe is only warned about: the
        owner keeps it outside on purpose (``rebuild_universe`` adds it)."""
        held = sorted({p.symbol for p in account.positions if p.quantity > 0})
        no_rate = {p.currency for p in account.positions if p.quantity > 0} | {
            c.currency for c in account.cash if c.amount != 0}
        universe = {str(r["symbol"]) for r in rows}
        outside = [s for s in held if s not in universe]
        if rows and outside:
            warnings.append(f"held {', '.join(outside)} not in the universe: left out of "
                            "this plan")
        return Missing(fx_rates=tuple(sorted(no_rate - set(rates))),
                       universe=tuple(held) if not rows else ())

    def _allocation(self, rows: Sequence[Mapping[str, Any]]) -> Allocation:
        """The owner's group targets and the member → group maps of ``rows``' countries
        and industries."""
        countries = {str(r["country"]) for r in rows if r["country"]}
        industries = {i for r in rows for i in industries_of(r["industry"])}
        return Allocation(
            member_to_group(allocation_repo.groups(self.store, "country"),
                            countries),
            member_to_group(allocation_repo.groups(self.store, "industry"),
                            industries),
            {g: float(t) for g, t in allocation_repo.targets(self.store, "country").items()},
            {g: float(t) for g, t in allocation_repo.targets(self.store, "industry").items()})

    def portfolio_hash(self, account: AccountSnapshot, mode: str) -> str:
        """The portfolio hash :meth:`gather` would give, without reading any history."""
        rows = securities_repo.list_securities(self.store, active_only=True)
        return self._hash(rows, account, mode)

    def _hash(self, rows: list[dict[str, Any]], account: AccountSnapshot, mode: str) -> str:
        pending = [PendingOrder(o["symbol"], o["side"], o["remaining"], o["price"],
                                o["currency"])
                   for o in plan_repo.open_orders(self.store, mode)]
        return portfolio_hash(
            [HashSecurity(str(r["symbol"]), bool(r["allow_buy"]), bool(r["allow_sell"]),
                          r["min_portfolio_target"], r["max_portfolio_target"],
                          r["country"], r["industry"]) for r in rows],
            {p.symbol: p.quantity for p in account.positions},
            {c.currency: account.cash_in(c.currency) for c in account.cash}, pending)

    @staticmethod
    def _security(row: Mapping[str, Any], rates: Mapping[str, Decimal],
                  fundamentals: Fundamentals | None = None,
                  industry_to_group: Mapping[str, str] | None = None) -> SecurityInfo:
        ccy = str(row["currency"] or "EUR")

        def pct(value: Any) -> float | None:
            return None if value is None else float(value) / 100

        return SecurityInfo(
            symbol=str(row["symbol"]), name=str(row["name"] or ""), currency=ccy,
            fx_rate=float(Decimal(1) / rates[ccy]), country=row["country"],
            industry=grouped_industry(row["industry"], industry_to_group or {}),
            allow_buy=bool(row["allow_buy"]),
            allow_sell=bool(row["allow_sell"]), min_lot=max(1, int(row["min_lot"] or 1)),
            fundamentals=fundamentals,
            min_target=pct(row["min_portfolio_target"]),
            max_target=pct(row["max_portfolio_target"]),
            priority_multiplier=float(row.get("priority_multiplier") or 1.0))


__all__ = ["Gathered", "InputGatherer", "aligned_prices", "current_values", "planner_settings"]
