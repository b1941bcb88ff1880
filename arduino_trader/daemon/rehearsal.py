"""``arduino-trader run --rehearse``: the real daemon against the local sandbox, any day.

Two things differ from a normal run, and only when the broker is the Tradernet protocol
on a loopback address (``arduino-trader sandbox``; anything else refuses to start):
every market counts as open, since the sandbox trades around the clock (a weekend
rehearsal can place an order), and the price history is the sandbox's own, fetched at
start (``getHloc``, :data:`HISTORY_DAYS` up to today) for the securities of the bundled
universe it lists, so quotes, 52-week highs and the planner's history agree. The live
mode switch, the safety pipeline, the journal and the Tradernet client are the real path.
"""

from __future__ import annotations

import ipaddress
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

import structlog

from arduino_trader.adapters.market_data.calendars import MarketCalendars
from arduino_trader.adapters.market_data.replay_data import (
    UNIVERSE_FILE,
    bundled_path,
    parse_fx_setting,
)
from arduino_trader.adapters.market_data.replay_source import ReplaySource
from arduino_trader.adapters.market_data.replay_universe import read_universe_file
from arduino_trader.config.settings import Settings
from arduino_trader.protocols.broker_errors import BrokerError

from .service import DaemonOptions, StartupError, TraderDaemon

log = structlog.get_logger(component="rehearsal")

REHEARSAL_OVERRIDES: dict[str, Any] = {"market_data.source": "replay",
                                       "market_data.replay_prices_file": ""}
HISTORY_DAYS = 420
HISTORY_FILE = "rehearsal-prices.csv"


class AlwaysOpenCalendars(MarketCalendars):
    """Every market open at every moment (the sandbox's hours)."""

    def is_open(self, mic: str, at: datetime) -> bool:
        """Always open."""
        return True

    def is_tradable(self, mic: str, at: datetime, buffer_minutes: int = 30) -> bool:
        """Always tradable."""
        return True

    def error(self, mic: str) -> str | None:
        """No calendar is missing."""
        return None

    def outdated(self, today: date, max_days: int = 7) -> bool:
        """Never replaced by real calendars."""
        return False


def sandbox_problem(settings: Settings) -> str | None:
    """Why ``settings`` do not point at a local sandbox (None when they do)."""
    if settings.typed.broker.kind != "tradernet":
        return "--rehearse needs broker.kind = \"tradernet\" pointed at the sandbox"
    url = settings.typed.broker.base_url
    host = (urlsplit(url).hostname or "").lower()
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        return (f"--rehearse only runs against a sandbox on this machine; broker.base_url "
                f"{url!r} is not a loopback address")
    return None


def rehearsal_settings(settings: Settings) -> Settings:
    """``settings`` with the rehearsal's forced values (the bundled replay data)."""
    return settings.with_overrides(REHEARSAL_OVERRIDES)


class RehearsalDaemon(TraderDaemon):
    """The daemon with always-open markets and re-dated bundled history."""

    def __init__(self, options: DaemonOptions) -> None:
        super().__init__(options)
        self._calendars = AlwaysOpenCalendars(today=self.clock.now().date())

    def start(self) -> None:
        """Refuse anything but a local sandbox, then start as usual."""
        problem = sandbox_problem(self.options.settings)
        if problem is not None:
            raise StartupError(problem)
        super().start()

    def _start_actors(self) -> None:
        try:
            self.io.run(self._fetch_history(), timeout=300)
        except (BrokerError, OSError, TimeoutError, StartupError) as exc:
            self._abort()
            raise StartupError(f"cannot fetch the sandbox's price history: {exc}") from exc
        super()._start_actors()

    async def _fetch_history(self) -> None:
        """Write the sandbox's daily closes of the bundled universe's securities."""
        broker = self._broker_pair()[0]
        end = self.clock.now()
        start = end - timedelta(days=HISTORY_DAYS)
        closes: dict[str, dict[date, Decimal]] = {}
        for info in read_universe_file(bundled_path(UNIVERSE_FILE).read_text(encoding="utf-8")):
            try:
                candles = await broker.daily_history(info.symbol, start, end)
            except BrokerError:
                continue  # not listed at the sandbox
            if candles and info.yahoo_symbol:
                closes[info.yahoo_symbol] = {c.at.date(): c.close for c in candles}
        if not closes:
            raise StartupError("the sandbox lists none of the bundled universe's securities")
        path = self.data_dir / HISTORY_FILE
        path.write_text(history_csv(closes), encoding="utf-8")
        log.info("rehearsal_history", path=str(path), securities=sorted(closes))

    def _market_source(self) -> Any:
        if self._market_data is None:
            assert self.settings is not None
            fx = parse_fx_setting(self.settings.current().typed.market_data.replay_fx_rates)
            self._market_data = ReplaySource(self.clock, prices=self.data_dir / HISTORY_FILE,
                                             universe=bundled_path(UNIVERSE_FILE), fx=fx)
        return self._market_data


def history_csv(closes: dict[str, dict[date, Decimal]]) -> str:
    """``Date,T1,T2,...`` rows (the replay's format), one per day any ticker has."""
    tickers = sorted(closes)
    lines = [",".join(["Date", *tickers])]
    for day in sorted({d for series in closes.values() for d in series}):
        cells = [str(closes[t][day]) if day in closes[t] else "" for t in tickers]
        lines.append(",".join([day.isoformat(), *cells]))
    return "\n".join(lines) + "\n"
