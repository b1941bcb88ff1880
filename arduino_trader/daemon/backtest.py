"""``arduino-trader backtest``: the daemon's real actors, day by day, on a step clock.

A :class:`BacktestDaemon` is the ordinary daemon (same actors, store, executor, planner,
cash flows, satellites, ticking scheduler) on the replay source, the paper broker and a
:class:`~arduino_trader.adapters.clock.StepClock`, in a temporary data directory, with the
admin API left off. On the step clock the scheduler is stepped
(:data:`~arduino_trader.daemon.scheduler.SIMULATED_DAY_JOBS`). :class:`StepDriver` moves
the clock to each trading day (15:00 New York: inside the tradable window), books the
monthly deposit on the paper broker and lets the scheduler's own due-job loop run the
day's jobs in order, each to completion. The report maths is
:mod:`arduino_trader.domain.backtest_report`.

Deposits are booked in EUR, like an owner's bank transfers to Freedom24; buys of
securities in other currencies (USD for the bundled universe) are funded by the
executor's currency exchanges at the replay's fixed rates, fees included.
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from decimal import Decimal
from pathlib import Path
from typing import Any, TextIO
from zoneinfo import ZoneInfo

import structlog

from arduino_trader.adapters.clock import StepClock
from arduino_trader.adapters.market_data.calendars import MarketCalendars
from arduino_trader.adapters.market_data.replay_data import (
    UNIVERSE_FILE,
    bundled_path,
    parse_fx_setting,
)
from arduino_trader.adapters.market_data.replay_source import ReplaySource
from arduino_trader.config.settings import Settings
from arduino_trader.config.spec import SettingError
from arduino_trader.domain.backtest_report import (
    EquityPoint,
    TradeRow,
    build_report,
    buy_and_hold,
    order_hash,
)
from arduino_trader.protocols.market_data import MarketDataError
from arduino_trader.protocols.messages import JobOutcome

from .backtest_data import data_description
from .backtest_output import write_chart, write_report
from .backtest_series import daily_series
from .scheduler import SIMULATED_DAY_JOBS
from .service import DaemonOptions, TraderDaemon

log = structlog.get_logger(component="backtest")

NEW_YORK = ZoneInfo("America/New_York")
STEP_TIME = dtime(15, 0)  # New York: inside the 10:00-15:30 tradable window (30 min buffers)
MIN_SECURITIES = 2
# Run on every simulated day, in this order, each to completion (by the scheduler).
DAILY_JOBS: tuple[str, ...] = SIMULATED_DAY_JOBS
DEPOSIT_COMMENT = "backtest monthly deposit"


class BacktestError(ValueError):
    """Bad backtest input, reported before any work starts."""


@dataclass(frozen=True)
class BacktestConfig:
    """What to simulate."""

    start: date
    end: date
    initial_cash: Decimal
    monthly_deposit: Decimal = Decimal(0)
    data: Path | None = None  # None: the bundled real closes
    universe: Path | None = None  # None: the bundled directory, defaults for other tickers
    benchmark: str | None = None  # a column of ``data`` or a Date,VALUE file; None: SP500
    progress_every: int = 20


def backtest_settings(settings: Settings, config: BacktestConfig) -> Settings:
    """``settings`` with what a backtest needs: replay data, research mode on the paper
    broker opened with the initial cash, and no debounced background plans (the driver
    runs the planner itself, so runs are reproducible)."""
    try:
        return settings.with_overrides({
            "market_data.source": "replay", "broker.kind": "paper",
            "trading_mode": "research",
            "market_data.replay_prices_file": str(config.data) if config.data else "",
            "broker.paper_initial_cash_eur": "0",
            "planner_debounce_seconds": 3600})
    except SettingError as exc:
        raise BacktestError(f"invalid configuration: {exc}") from exc


def build_source(config: BacktestConfig, settings: Settings, clock: StepClock) -> ReplaySource:
    """The replay source of the backtest (bundled data or ``config.data``)."""
    fx = parse_fx_setting(settings.typed.market_data.replay_fx_rates)
    for path, what in ((config.data, "data"), (config.universe, "universe")):
        if path is not None and not path.is_file():
            raise BacktestError(f"{what} file {path} does not exist")
    universe = config.universe or bundled_path(UNIVERSE_FILE)  # every column offered
    index: Path | str | None = config.benchmark
    if config.benchmark and Path(config.benchmark).is_file():
        index = Path(config.benchmark)
    return ReplaySource(clock, prices=config.data, universe=universe, fx=fx, index=index)


def eur_rate(settings: Settings, currency: str) -> Decimal:
    """The replay's fixed EUR value of one unit of ``currency``."""
    rate = parse_fx_setting(settings.typed.market_data.replay_fx_rates).get(currency)
    if rate is None:
        raise BacktestError(f"market_data.replay_fx_rates has no {currency} rate")
    return rate


def validate(config: BacktestConfig, source: ReplaySource) -> list[date]:
    """The trading days to simulate; :class:`BacktestError` on dates outside the data, too
    few days or securities, or non-positive money."""
    if config.initial_cash <= 0:
        raise BacktestError("--initial-cash must be positive")
    if config.monthly_deposit < 0:
        raise BacktestError("--monthly-deposit must not be negative")
    if config.end <= config.start:
        raise BacktestError(f"--end {config.end} must be after --start {config.start}")
    try:
        first, last = source.first_day, source.last_day
    except Exception as exc:
        raise BacktestError(f"cannot read the price data: {exc}") from exc
    if config.start < first or config.end > last:
        raise BacktestError(f"{config.start}..{config.end} is outside the data "
                            f"({first}..{last})")
    days = source.trading_days(config.start, config.end)
    if len(days) < 2:
        raise BacktestError(f"only {len(days)} trading day(s) in {config.start}..{config.end}")
    try:
        tradable = source.tradable()
    except MarketDataError as exc:
        raise BacktestError(f"cannot read the universe: {exc}") from exc
    named = config.benchmark
    if named and not Path(named).is_file() and named.strip().upper() not in tradable.indexes:
        raise BacktestError(f"--benchmark {named}: neither a column of the data nor a file")
    if len(tradable.securities) < MIN_SECURITIES:
        dropped = "".join(f"; {t} dropped: {why}" for t, why in tradable.dropped.items())
        raise BacktestError(f"the data has {len(tradable.securities)} tradable "
                            f"securities; at least {MIN_SECURITIES} are needed{dropped}")
    return days


def start_moment(first_day: date) -> datetime:
    """Where the step clock starts: the step time of the day before the first trading
    day, so every daily job is first due on the first step (none at start-up)."""
    return datetime.combine(first_day - timedelta(days=1), STEP_TIME, NEW_YORK)


class BacktestDaemon(TraderDaemon):
    """The daemon with a given replay source, calendars spanning the whole period and no
    admin API."""

    def __init__(self, options: DaemonOptions, source: ReplaySource, start: date,
                 end: date) -> None:
        super().__init__(options)
        self._market_data = source
        self._calendars = MarketCalendars(history_days=(end - start).days + 40, today=end)

    def _start_api(self, settings: Settings) -> None:
        self.port = None


class StepDriver:
    """Moves a daemon on a :class:`StepClock` through trading days: books the monthly
    deposit on the paper broker, then lets the daemon's stepped scheduler run the due
    jobs (its ticking thread may find them first: the same jobs run in the same order)."""

    def __init__(self, daemon: TraderDaemon, clock: StepClock, initial_cash: Decimal,
                 monthly_deposit: Decimal, currency: str = "EUR",
                 eur_per_unit: Decimal = Decimal(1)) -> None:
        self.daemon = daemon
        self.clock = clock
        self.initial_cash = initial_cash
        self.monthly_deposit = monthly_deposit
        self.currency = currency
        self.eur_per_unit = eur_per_unit
        self.flows: list[float] = []
        self.failures: dict[str, int] = {}
        self._last_month: tuple[int, int] | None = None

    def _deposit(self, amount_eur: Decimal, comment: str) -> float:
        """Book ``amount_eur`` in the deposit currency on the paper broker (a cash flow the
        cash-flow actor syncs); returns the EUR flow."""
        amount = (amount_eur / self.eur_per_unit).quantize(Decimal("0.01"))
        paper = self.daemon._broker_pair()[1]
        self.daemon.io.run(paper.deposit(self.currency, amount, comment), timeout=60)
        return float(amount * self.eur_per_unit)

    def step(self, day: date, *, by_timer: bool = False,
             timeout_s: float = 900.0) -> dict[str, JobOutcome]:
        """Simulate one trading day; returns each job's outcome. ``by_timer``: leave the
        due jobs to the scheduler's ticking thread and wait until it has run them."""
        scheduler = self.daemon.scheduler
        if scheduler is None or scheduler.stepped is None:
            raise RuntimeError("the step driver needs a daemon on a step clock")
        with scheduler.holding():  # the ticking thread waits until the deposit is booked
            self.clock.set(datetime.combine(day, STEP_TIME, NEW_YORK))
            flow = 0.0
            month = (day.year, day.month)
            if self._last_month is None:
                flow += self._deposit(self.initial_cash, "backtest initial cash")
            elif month != self._last_month and self.monthly_deposit > 0:
                flow += self._deposit(self.monthly_deposit, DEPOSIT_COMMENT)
            self._last_month = month
            self.flows.append(flow)
            if not by_timer:
                outcomes = scheduler.drain()
        if by_timer:
            deadline = time.monotonic() + timeout_s
            while scheduler.due_jobs(self.clock.now()) and time.monotonic() < deadline:
                time.sleep(0.02)
            outcomes = scheduler.drain()  # waits for the thread's drain, runs what is left
        for job, outcome in outcomes.items():
            if not outcome.ok:
                self.failures[job] = self.failures.get(job, 0) + 1
        return outcomes


# --------------------------------------------------------------------- reading
def _read(daemon: TraderDaemon, sql: str) -> list[Any]:
    return list(daemon.store.fetch_all(sql))


def read_orders(daemon: TraderDaemon) -> list[dict[str, Any]]:
    """Every journaled order with its fills, in journal order (simulated dates only, so
    the same days give the same list)."""
    rows = _read(daemon, (
        "SELECT o.id, o.created_at, o.isin, o.symbol, o.side, o.quantity, o.state, "
        "o.filled_quantity, o.source, o.bucket_id, o.currency, "
        "COALESCE((SELECT GROUP_CONCAT(t.price, ';') FROM trades t WHERE t.order_row = o.id),"
        " (SELECT GROUP_CONCAT(f.price, ';') FROM fx_trades f WHERE f.order_row = o.id))"
        " AS prices "
        "FROM orders o ORDER BY o.id"))
    return [{"day": datetime.fromtimestamp(r["created_at"], UTC).date().isoformat(),
             "isin": r["isin"], "symbol": r["symbol"], "side": r["side"],
             "quantity": r["quantity"], "state": r["state"],
             "filled_quantity": r["filled_quantity"], "fill_prices": r["prices"] or "",
             "currency": r["currency"], "source": r["source"], "bucket": r["bucket_id"]}
            for r in rows]


def read_trades(daemon: TraderDaemon) -> list[TradeRow]:
    """Fills of the research ledger, in EUR."""
    rows = _read(daemon, (
        "SELECT executed_at, side, value, value_eur, fee, currency_rate, bucket_id "
        "FROM trades WHERE mode = 'research' ORDER BY id"))
    out = []
    for r in rows:
        rate = Decimal(r["currency_rate"]) if r["currency_rate"] else None
        value_eur = (Decimal(r["value_eur"]) if r["value_eur"] else
                     Decimal(r["value"]) / rate if rate else Decimal(0))
        fee_eur = Decimal(r["fee"] or 0) / rate if rate else Decimal(r["fee"] or 0)
        out.append(TradeRow(datetime.fromtimestamp(r["executed_at"], UTC).date(), r["side"],
                            float(value_eur), float(fee_eur), r["bucket_id"]))
    return out


def read_exchanges(daemon: TraderDaemon, settings: Settings) -> dict[str, Any]:
    """How many currency-exchange fills funded the buys, and their fees in EUR (each fee
    is in its pair's quote currency, converted at the replay's fixed rate), in all and
    per calendar year."""
    rows = _read(daemon, "SELECT quote_currency, fee, executed_at FROM fx_trades "
                         "WHERE mode = 'research'")
    by_year: dict[str, float] = {}
    total = Decimal(0)
    for r in rows:
        fee = Decimal(r["fee"] or 0) * (Decimal(1) if r["quote_currency"] == "EUR"
                                        else eur_rate(settings, r["quote_currency"]))
        total += fee
        year = str(datetime.fromtimestamp(r["executed_at"], UTC).year)
        by_year[year] = by_year.get(year, 0.0) + float(fee)
    return {"currency_exchange_fills": len(rows), "currency_exchange_fees_eur": float(total),
            "currency_exchange_fees_by_year_eur": by_year}


def read_equity(daemon: TraderDaemon, days: Sequence[date],
                flows: Sequence[float]) -> list[EquityPoint]:
    """The daily snapshot totals and cash (EUR) on the simulated days; a missing day
    carries the previous values (a failed sync never invents one)."""
    rows = _read(daemon, "SELECT date, total_value, cash_balance FROM portfolio_snapshots")
    totals = {r["date"]: (float(Decimal(r["total_value"])), float(Decimal(r["cash_balance"])))
              for r in rows}
    out: list[EquityPoint] = []
    last = (flows[0], flows[0]) if flows else (0.0, 0.0)
    for day, flow in zip(days, flows, strict=True):
        last = totals.get(day.isoformat(), last)
        out.append(EquityPoint(day, last[0], flow, last[1]))
    return out


# ------------------------------------------------------------------------ run
@dataclass
class BacktestResult:
    """What a run produced."""

    report: dict[str, Any]
    orders: list[dict[str, Any]]
    equity: list[EquityPoint]
    benchmarks: dict[str, list[float]]
    wall_s: float
    trades: list[TradeRow] = field(default_factory=list)


def benchmarks(source: ReplaySource, days: Sequence[date], flows: Sequence[float],
               settings: Settings) -> dict[str, list[float]]:
    """Buy-and-hold equal weight of the universe and the index, on the same flows, each
    close in EUR at the replay's fixed rate of its currency (the index in USD)."""
    def in_eur(symbol: str, currency: str) -> list[float | None]:
        rate = float(eur_rate(settings, currency)) if currency != "EUR" else 1.0
        return [None if c is None else c * rate for c in source.closes(symbol, days)]

    closes = {info.yahoo_symbol or info.symbol: in_eur(info.yahoo_symbol or info.symbol,
                                                       info.currency)
              for info in source.universe()}
    out = {"buy_and_hold_equal_weight": buy_and_hold(days, closes, flows)}
    usd = parse_fx_setting(settings.typed.market_data.replay_fx_rates).get("USD")
    for name in source.tradable().indexes:  # priced in the replay's USD
        if usd is not None:
            key = "sp500_index" if name == "SP500" else f"index_{name.lower()}"
            out[key] = buy_and_hold(days, {name: in_eur(name, "USD")}, flows)
    return out


def run_backtest(config: BacktestConfig, settings: Settings, *,
                 data_dir: Path | None = None,
                 progress: TextIO | None = None,
                 on_day: Callable[[int, date], None] | None = None) -> BacktestResult:
    """Validate, simulate every trading day with the real actors, and compute the report.
    Progress goes to ``progress`` (stderr by default) every ``config.progress_every`` days
    (0: silent)."""
    t0 = time.monotonic()
    out = progress if progress is not None else sys.stderr
    effective = backtest_settings(settings, config)
    probe_clock = StepClock(start_moment(config.start))
    source = build_source(config, effective, probe_clock)
    days = validate(config, source)
    for ticker, why in source.tradable().dropped.items():
        print(f"backtest: column {ticker} dropped: {why}", file=out, flush=True)
    eur_rate(effective, "USD")  # the replay's own currency: refused now, not at the end
    clock = probe_clock
    with tempfile.TemporaryDirectory(prefix="arduino-trader-backtest-") as tmp:
        log.info("backtest_started", days=len(days))
        directory = data_dir or Path(tmp)
        daemon = BacktestDaemon(DaemonOptions(settings=effective, data_dir=directory,
                                              clock=clock, configure_logs=False,
                                              port_override=0, durable_store=False),
                                source, days[0], days[-1])
        daemon.start()
        try:
            driver = StepDriver(daemon, clock, config.initial_cash, config.monthly_deposit)
            for i, day in enumerate(days):
                driver.step(day)
                if on_day is not None:
                    on_day(i, day)
                if config.progress_every > 0 and ((i + 1) % max(1, config.progress_every) == 0
                                             or i + 1 == len(days)):
                    print(f"backtest: {i + 1}/{len(days)} days, {day}", file=out,
                          flush=True)
            orders = read_orders(daemon)
            trades = read_trades(daemon)
            exchanges = read_exchanges(daemon, effective)
            equity = read_equity(daemon, days, driver.flows)
            daily = daily_series(daemon.store, source, equity,
                                 lambda ccy: Decimal(1) if ccy == "EUR" else
                                 eur_rate(effective, ccy))
            failures = dict(driver.failures)
        finally:
            daemon.stop()
    bench = benchmarks(source, days, driver.flows, effective)
    digest = order_hash(orders)
    meta = {"start": days[0].isoformat(), "end": days[-1].isoformat(),
            "trading_days": len(days), "initial_cash_eur": str(config.initial_cash),
            "monthly_deposit_eur": str(config.monthly_deposit),
            "data": str(config.data) if config.data else "bundled",
            "data_description": data_description(source, config.data, config.universe),
            "job_failures": failures, "orders": len(orders), **exchanges}
    report = build_report(equity, trades, bench, digest, meta)
    report["daily"] = daily
    wall = time.monotonic() - t0
    report["wall_s"] = round(wall, 2)
    return BacktestResult(report, orders, equity, bench, wall, trades)


__all__ = ["BacktestConfig", "BacktestError", "BacktestResult", "run_backtest",
           "write_chart", "write_report"]
