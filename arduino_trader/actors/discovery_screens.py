"""Where discovery's candidates come from: the broker's public screens
(``getTopSecurities`` per exchange, identified by ``tickerFinder``), and the
market-data source's screen for the exchanges where the broker gives none.

Runs in the calling actor's thread: broker coroutines go through ``io.run``; the
source is blocking and is called directly.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from arduino_trader.domain.discovery import Candidate, DiscoveryRules, exchange_of
from arduino_trader.domain.universe import is_valid_isin
from arduino_trader.protocols.broker import Broker, FinderHit
from arduino_trader.protocols.broker_errors import BrokerError, BrokerUnsupported
from arduino_trader.protocols.market_data import (
    MarketData,
    MarketDataError,
    Screener,
    SecurityInfo,
)
from arduino_trader.protocols.runtime import IoRunner

BROKER_TIMEOUT_S = 60.0
STOCK_TYPE = 1  # tickerFinder ``type`` 1 = shares (kind 1 common, 2 preferred, 7 fund units)
STOCK_KINDS = (1, 2)


@dataclass
class Screened:
    """The run's candidates (once each), and what could not be screened or identified."""

    candidates: list[Candidate] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    screens: dict[str, str] = field(default_factory=dict)  # exchange -> who screened it
    known: int = 0  # screened tickers already known (not looked up again)

    def add(self, c: Candidate) -> None:
        if all(x.isin != c.isin for x in self.candidates):
            self.candidates.append(c)


class Screens:
    """Ask the broker, then the source, for candidates of the configured exchanges."""

    def __init__(self, io: IoRunner, broker: Broker, source: MarketData) -> None:
        self.io = io
        self.broker = broker
        self.source = source

    def gather(self, rules: DiscoveryRules, known: frozenset[str] = frozenset()) -> Screened:
        """Candidates of every configured exchange; the source screens those for which
        the broker answered no ticker (or no screen at all). Tickers in ``known`` are
        counted but not looked up (they are in the universe or were proposed)."""
        out = Screened()
        uncovered: list[str] = []
        for exchange in rules.exchanges:
            tickers = self._top(exchange, rules.fetch_limit, out)
            if not tickers:
                uncovered.append(exchange)
                continue
            out.screens[exchange] = "broker"
            for ticker in tickers:
                if ticker.upper() in known:
                    out.known += 1
                    continue
                hit = self._identify(ticker, out)
                if hit is not None:
                    out.add(Candidate(hit.isin.upper(), hit.symbol.upper(), hit.name or ticker,
                                      hit.currency or self._currency(hit.symbol, out),
                                      exchange_of(market=hit.market) or exchange, "broker"))
        if uncovered:
            self._source_screen(uncovered, rules, out)
        return out

    # ----------------------------------------------------------------- broker
    def _top(self, exchange: str, limit: int, out: Screened) -> list[str]:
        """Most traded, then fastest growing: the broker's two lists of one exchange."""
        if self.broker is None:
            return []
        tickers: list[str] = []
        for gainers in (False, True):
            try:
                got = self.io.run(self.broker.top_securities(
                    exchange, kind="stocks", gainers=gainers, limit=limit),
                    timeout=BROKER_TIMEOUT_S)
            except BrokerUnsupported:
                return tickers  # a broker without screens (paper): the source screens
            except BrokerError as exc:
                out.problems.append(f"broker screen {exchange}: {exc}")
                return tickers
            tickers += [t for t in got if t not in tickers]
        return tickers

    def _identify(self, ticker: str, out: Screened) -> FinderHit | None:
        """The broker's stock listing of ``ticker`` with a valid ISIN, else None."""
        try:
            hits = self.io.run(self.broker.find_security(ticker), timeout=BROKER_TIMEOUT_S)
        except BrokerError as exc:
            out.problems.append(f"{ticker}: not identified ({exc})")
            return None
        hit = next((h for h in hits if h.symbol.upper() == ticker.upper()), None)
        if hit is None or not is_valid_isin(hit.isin):
            out.problems.append(f"{ticker}: the broker lists no valid ISIN for it")
            return None
        if hit.instrument_type != STOCK_TYPE or hit.instrument_kind not in STOCK_KINDS:
            return None  # funds, bonds, indices: discovery proposes shares only
        return hit

    def _currency(self, symbol: str, out: Screened) -> str:
        try:
            info = self.io.run(self.broker.security_info(symbol), timeout=BROKER_TIMEOUT_S)
        except BrokerError as exc:
            out.problems.append(f"{symbol}: currency unknown ({exc})")
            return ""
        return str(info.currency).upper()

    # ----------------------------------------------------------------- source
    def _source_screen(self, exchanges: list[str], rules: DiscoveryRules,
                       out: Screened) -> None:
        if not isinstance(self.source, Screener):
            out.problems.append(f"no screen for {', '.join(exchanges)}: the broker gives "
                                f"none and the {getattr(self.source, 'name', 'market-data')} "
                                "source cannot screen")
            return
        regions = sorted(r for r in rules.geographies if r != "OTHER")
        try:
            found = self.source.screen(regions, rules.min_volume, rules.fetch_limit)
        except MarketDataError as exc:
            out.problems.append(f"source screen: {exc}")
            return
        for exchange in exchanges:
            out.screens[exchange] = str(getattr(self.source, "name", "source"))
        for info in found:
            listed = exchange_of(mic=info.mic)
            if listed is None or listed not in exchanges:
                continue
            c = self._from_source(info, listed, out)
            if c is not None:
                out.add(c)

    def _from_source(self, info: SecurityInfo, exchange: str, out: Screened
                     ) -> Candidate | None:
        """A source hit as a candidate: its ISIN (the source's, else the broker's listing
        of the same ticker on that exchange); without one it cannot be onboarded."""
        isin, symbol = (info.isin or "").upper(), info.symbol.upper()
        if not is_valid_isin(isin) and self.broker is not None:
            base = (info.yahoo_symbol or info.symbol).split(".")[0].upper()
            try:
                hits = self.io.run(self.broker.find_security(base), timeout=BROKER_TIMEOUT_S)
            except BrokerError:
                hits = ()
            hit = next((h for h in hits if exchange_of(market=h.market) == exchange
                        and is_valid_isin(h.isin)), None)
            if hit is not None:
                isin, symbol = hit.isin.upper(), hit.symbol.upper()
        if not is_valid_isin(isin):
            out.problems.append(f"{info.symbol}: no ISIN known (the broker does not list it)")
            return None
        return Candidate(isin, symbol, info.name, info.currency.upper(), exchange,
                         str(getattr(self.source, "name", "source")), country=info.country,
                         mic=info.mic, yahoo_symbol=info.yahoo_symbol)
