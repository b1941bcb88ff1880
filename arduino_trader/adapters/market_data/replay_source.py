"""The market-data port served from a local daily-close CSV set (the bundled demo data by
default): for tests, the demo and backtests.

The replay stands at a position in time given by its clock: quotes are the last close
published at or before that moment (a 15:00 New York clock sees the previous session's
close, never that day's 16:00 close), history stops there. :meth:`ReplaySource.next_quotes`
gives the first close not yet published: the price a market order placed now fills at
(the paper broker's fills). With a wall clock after the data's end the
replay stands at its last day (the data's own ``as_of`` tells consumers how old it is).
``end_on`` re-dates the same closes onto weekdays ending that day (the demo).
The CSV is read lazily, once, in one pass.
"""

from __future__ import annotations

import threading
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from functools import cached_property
from pathlib import Path
from zoneinfo import ZoneInfo

from arduino_trader.domain.analytics import region_of
from arduino_trader.domain.price_series import monthly_means
from arduino_trader.domain.universe import product_type_for
from arduino_trader.protocols.clock import Clock
from arduino_trader.protocols.market_data import (
    AnalystData,
    EmptyHistory,
    Fundamentals,
    FxRate,
    Listing,
    ListingMismatch,
    MarketDataUnavailable,
    MonthlyPrice,
    PriceBar,
    PriceHistory,
    Quote,
    RateUnavailable,
    SecurityInfo,
    UnknownSymbol,
)

from .replay_columns import Closes, ValidCloses
from .replay_data import (
    INDEX_FILE,
    PRICES_FILE,
    UNIVERSE_FILE,
    CloseTable,
    bundled_path,
    merge_tables,
    read_close_file,
    redate,
    weekdays_ending,
)
from .replay_universe import INDEX_COLUMNS, ReplayUniverse, build_universe, read_universe_file

# Benchmark aliases served by the bundled set (regime detection, benchmarks).
INDEX_ALIASES = {"^GSPC": "SP500", "SPX": "SP500"}
_CLOSE_TIME = time(16, 0)
# Bars of each column's latest history answer kept for the next: a year of sessions and a
# margin, what the daemon's daily top-up re-reads (``market_data.history_topup_years``).
KEPT_BARS = 300
_NEW_YORK = ZoneInfo("America/New_York")


class ReplaySource:
    """:class:`arduino_trader.protocols.market_data.MarketData` over a close-price table."""

    name = "replay"

    def __init__(self, clock: Clock, *, prices: Path | None = None,
                 universe: Path | None = None, currency: str = "USD",
                 fx: Mapping[str, Decimal] | None = None,
                 end_on: date | None = None,
                 sessions: Callable[[date, int], Sequence[date]] | None = None,
                 index: Path | str | None = None) -> None:
        self._clock = clock
        self._end_on = end_on
        self._sessions = sessions or weekdays_ending  # the days re-dated onto (``end_on``)
        self._prices_path = prices or bundled_path(PRICES_FILE)
        # With a universe file (the bundled one by default for the bundled prices; a
        # backtest always passes one) every column is offered, described by the file or
        # with the stated defaults (``replay_universe``); an owner's price file without
        # one offers nothing: the owner adds securities by identifier.
        self._universe_path = universe if universe is not None else (
            bundled_path(UNIVERSE_FILE) if prices is None else None)
        # the benchmark: the bundled S&P 500 with the bundled prices; ``index`` names a
        # column of the price file or a Date,VALUE file merged into it (``_load``)
        self._index_path = bundled_path(INDEX_FILE) if prices is None else None
        self._indexes = set(INDEX_COLUMNS)
        if isinstance(index, Path):
            self._index_path = index
        elif index:
            self._indexes.add(index.strip().upper())
        self._currency = currency
        self._fx = dict(fx or {})
        self._table: CloseTable | None = None
        self._universe: list[SecurityInfo] | None = None
        self._tradable: ReplayUniverse | None = None
        self._indexed: dict[str, ValidCloses] = {}
        self._windows: dict[str, tuple[int, tuple[PriceBar, ...]]] = {}
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ loading
    @property
    def in_memory(self) -> bool:
        """True once the price table is loaded: quotes and FX rates are then answered from
        memory without blocking, so callers may skip handing them to a thread."""
        return self._table is not None

    def _load(self) -> CloseTable:
        with self._lock:
            if self._table is None:
                table = read_close_file(self._prices_path)
                if self._index_path is not None:
                    extra = read_close_file(self._index_path)
                    self._indexes |= set(extra.closes)
                    table = merge_tables(table, extra)
                if self._end_on is not None:
                    table = redate(table, self._end_on, self._sessions)
                self._table = table
            return self._table

    def _directory(self) -> list[SecurityInfo]:
        with self._lock:
            if self._universe is None:
                self._universe = [] if self._universe_path is None else read_universe_file(
                    self._universe_path.read_text(encoding="utf-8"), str(self._universe_path))
            return self._universe

    def tradable(self) -> ReplayUniverse:
        """The price file's securities, its index columns and the dropped columns with
        their reasons (``replay_universe``)."""
        if self._tradable is None:
            table, directory = self._load(), self._directory()
            self._tradable = ReplayUniverse(()) if self._universe_path is None else \
                build_universe(table.closes, directory, self._currency,
                               frozenset({*self._fx, self._currency}),
                               frozenset(self._indexes))
        return self._tradable

    def _known(self) -> list[SecurityInfo]:
        """The tradable securities, then the directory's others (lookups by ISIN or
        symbol)."""
        return [*self.tradable().securities, *self._directory()]

    @cached_property
    def _tickers(self) -> dict[str, str]:
        """The price file's column of each ISIN, symbol and Yahoo symbol of
        :meth:`_known` (the first security naming a key wins)."""
        tickers: dict[str, str] = {}
        for info in self._known():
            ticker = (info.yahoo_symbol or info.symbol).upper()
            for key in (info.isin, info.symbol.upper(), (info.yahoo_symbol or "").upper()):
                if key is not None:
                    tickers.setdefault(key, ticker)
        return tickers

    # ------------------------------------------------------------------ position
    @property
    def last_day(self) -> date:
        """The newest day in the data."""
        return self._load().days[-1]

    @property
    def first_day(self) -> date:
        """The oldest day in the data."""
        return self._load().days[0]

    def trading_days(self, start: date, end: date) -> list[date]:
        """The data's days within ``[start, end]`` (backtests step through them)."""
        days = self._load().days
        return list(days[bisect_left(days, start):bisect_right(days, end)])

    def closes(self, symbol: str, days: Sequence[date]) -> list[float | None]:
        """Closes of ``symbol`` on exactly ``days`` (None where missing), regardless of
        the clock: for reports after a backtest."""
        table = self._load()
        _, column = self._column(symbol)
        index = {d: i for i, d in enumerate(table.days)}
        return [column[index[d]] if d in index else None for d in days]

    def has_symbol(self, symbol: str) -> bool:
        """True when the data has a column for ``symbol``."""
        try:
            self._column(symbol)
        except UnknownSymbol:
            return False
        return True

    def _position(self) -> date:
        """The newest day whose close is published at the clock's moment."""
        local = self._clock.now().astimezone(_NEW_YORK)
        day = local.date() if local.time() >= _CLOSE_TIME else local.date() - timedelta(days=1)
        return min(day, self.last_day)

    def _close_time(self, day: date) -> datetime:
        return datetime.combine(day, _CLOSE_TIME, _NEW_YORK).astimezone(UTC)

    def reference_time(self, now: datetime) -> datetime:
        """``now`` inside the data range; after it, the close of the last day."""
        last_close = self._close_time(self.last_day)
        return min(now, last_close + timedelta(days=1))

    def _column(self, symbol: str) -> tuple[str, Closes]:
        table = self._load()
        key = self._ticker_of(symbol)
        column = table.closes.get(key)
        if column is None:
            raise UnknownSymbol(f"replay data has no symbol {symbol!r}")
        return key, column

    @cached_property
    def _currencies(self) -> dict[str, str]:
        """Each price column's currency: its security's (unlisted ones: the default)."""
        currencies: dict[str, str] = {}
        for info in self._known():
            currencies.setdefault((info.yahoo_symbol or info.symbol).upper(), info.currency)
        return currencies

    def _ticker_of(self, symbol: str) -> str:
        value = symbol.strip().upper()
        value = INDEX_ALIASES.get(value, value)
        known = self._tickers.get(value)
        if known is not None:
            return known
        base, dot, suffix = value.rpartition(".")
        return base if dot and suffix == "US" else value

    # ---------------------------------------------------------------------- port
    def quotes(self, symbols: Sequence[str]) -> dict[str, Quote]:
        """Last close on or before the replay position, per known symbol."""
        table = self._load()
        position = self._position()
        end = bisect_right(table.days, position)
        out: dict[str, Quote] = {}
        for symbol in symbols:
            try:
                key, column = self._column(symbol)
            except UnknownSymbol:
                continue
            for i in range(end - 1, max(-1, end - 11), -1):  # ≤ 10 days back (holidays)
                value = column[i]
                if value is not None:
                    out[symbol] = Quote(symbol, value,
                                        self._currencies.get(key, self._currency),
                                        self._close_time(table.days[i]), self.name)
                    break
        return out

    def next_quotes(self, symbols: Sequence[str]) -> dict[str, Quote]:
        """Per known symbol, the first close published at or after the clock's moment (a
        market order placed now fills there); after the data's last close, that close."""
        table = self._load()
        now = self._clock.now()
        local = now.astimezone(_NEW_YORK)
        first = local.date() if local.time() <= _CLOSE_TIME else local.date() + timedelta(days=1)
        start = bisect_left(table.days, first)
        out: dict[str, Quote] = {}
        for symbol in symbols:
            try:
                key, column = self._column(symbol)
            except UnknownSymbol:
                continue
            for i in range(start, min(len(table.days), start + 11)):  # ≤ 10 days ahead
                value = column[i]
                if value is not None:
                    out[symbol] = Quote(symbol, value,
                                        self._currencies.get(key, self._currency),
                                        self._close_time(table.days[i]), self.name)
                    break
            else:
                latest = self.quotes((symbol,)).get(symbol)
                if latest is not None and start >= len(table.days):
                    out[symbol] = latest
        return out

    def _closes_of(self, key: str, column: Closes) -> ValidCloses:
        """The days with a close of one column and those closes, in day order: indexed
        once per column, sharing the table's memory (no bar is kept: ~20 MB of bars for
        the bundled set, each history builds the bars of its own range)."""
        indexed = self._indexed.get(key)
        if indexed is None:
            indexed = column.index_of(self._load().days)
            self._indexed[key] = indexed
        return indexed

    def history(self, symbol: str, start: date, end: date) -> PriceHistory:
        """Daily closes of ``symbol`` within ``[start, end]`` up to the replay position;
        an ``EUR<CCY>=X`` pair of a configured rate is that rate on every replay day."""
        pair = self._fixed_pair(symbol)
        if pair is not None:
            return self._pair_history(symbol, pair, start, end)
        key, column = self._column(symbol)
        valid = self._closes_of(key, column)
        stop = min(end, self._position())
        first, last = valid.span(start, stop)
        if first >= last:
            raise EmptyHistory(f"replay has no bars for {symbol} in {start}..{stop}")
        bars = self._bars_of(key, valid.days, valid.closes, first, last)
        return PriceHistory(symbol, self._currencies.get(key, self._currency), bars,
                            self._close_time(bars[-1].day), self.name)

    def _bars_of(self, key: str, days: Sequence[date], closes: Sequence[float],
                 first: int, last: int) -> tuple[PriceBar, ...]:
        """The bars of positions ``[first, last)`` of one column. The newest
        ``KEPT_BARS`` of the previous answer are kept and handed back again where they
        overlap (the same objects), so the daemon's daily top-up, which re-reads a year
        to find the new day, compares them by identity; a longer re-read compares the
        rest field by field (same verdicts, slower)."""
        def new(lo: int, hi: int) -> tuple[PriceBar, ...]:
            return tuple(PriceBar(days[i], c, adj_close=c)
                         for i, c in zip(range(lo, hi), closes[lo:hi], strict=True))

        window = self._windows.get(key)
        if window is None:
            bars = new(first, last)
        else:
            kept_first, kept = window
            lo, hi = max(first, kept_first), min(last, kept_first + len(kept))
            bars = (new(first, lo) + kept[lo - kept_first:hi - kept_first] + new(hi, last)
                    if lo < hi else new(first, last))
        kept_from = max(first, last - KEPT_BARS)
        # One assignment: a reader sees the old window or the new one.
        self._windows[key] = (kept_from, bars[kept_from - first:])
        return bars

    def _fixed_pair(self, symbol: str) -> str | None:
        """The currency of an ``EUR<CCY>=X`` symbol with a configured rate, else None."""
        value = symbol.strip().upper()
        if len(value) == 8 and value.startswith("EUR") and value.endswith("=X") \
                and value[3:6] in self._fx:
            return value[3:6]
        return None

    def _pair_history(self, symbol: str, currency: str, start: date, end: date) -> PriceHistory:
        """Units of ``currency`` per EUR at the configured rate on each replay day."""
        per_eur = float(Decimal(1) / self._fx[currency])
        stop = min(end, self._position())
        bars = tuple(PriceBar(d, per_eur, adj_close=per_eur) for d in self._load().days
                     if start <= d <= stop)
        if not bars:
            raise EmptyHistory(f"replay has no days for {symbol} in {start}..{stop}")
        return PriceHistory(symbol, currency, bars, self._close_time(bars[-1].day), self.name)

    def monthly(self, symbol: str, start: date, end: date) -> list[MonthlyPrice]:
        """Monthly means of the daily history."""
        return monthly_means(self.history(symbol, start, end).bars)

    def fundamentals(self, symbol: str) -> Fundamentals:
        """The replay carries prices only."""
        self._column(symbol)
        raise MarketDataUnavailable("the replay source has no fundamentals")

    def analyst(self, symbol: str) -> AnalystData:
        """The replay carries prices only."""
        self._column(symbol)
        raise MarketDataUnavailable("the replay source has no analyst data")

    def lookup(self, identifier: str, listing: Listing | None = None) -> SecurityInfo:
        """A security of the bundled directory, or a bare record for a known column;
        ``ListingMismatch`` when ``listing`` names another currency."""
        value = identifier.strip().upper()
        found = next((info for info in self._known() if value in (
            info.isin, info.symbol.upper(), (info.yahoo_symbol or "").upper())), None)
        if found is None:  # a column no universe offers: no ISIN known
            key, _ = self._column(value)
            found = SecurityInfo(symbol=f"{key}.US", yahoo_symbol=key, name=key,
                                 currency=self._currency, product_type=product_type_for("EQUITY"))
        if listing is not None and listing.currency.upper() != found.currency:
            raise ListingMismatch(f"the replay lists {identifier} in {found.currency}, the "
                                  f"broker in {listing.currency}")
        return found

    def universe(self) -> list[SecurityInfo]:
        """Every tradable column of the price file (:meth:`tradable`)."""
        return list(self.tradable().securities)

    def screen(self, regions: Sequence[str], min_volume: int, limit: int
               ) -> list[SecurityInfo]:
        """The directory's securities of issuers in ``regions`` (no volumes: not applied)."""
        return [i for i in self.universe() if region_of(i.country) in regions][:limit]

    def fx_rate(self, currency: str) -> FxRate:
        """Configured rates only (the replay has no FX series); EUR is 1 by definition."""
        code = currency.strip().upper()
        now = self._clock.now()
        if code == "EUR":
            return FxRate("EUR", Decimal(1), now.date(), now, self.name)
        rate = self._fx.get(code)
        if rate is None:
            raise RateUnavailable(f"no FX rate for {code} in the replay configuration")
        return FxRate(code, rate, now.date(), now, self.name)
