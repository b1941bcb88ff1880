"""What every handler can reach: the bus, the store, settings, scheduler, and the adapters
the daemon wired in (each a typed field; None when this app was built without it)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from aiohttp import web

from arduino_trader.adapters.market_data.calendars import MarketCalendars
from arduino_trader.adapters.store.api_queries.connection import ReadOnlyDb
from arduino_trader.protocols.broker import Broker
from arduino_trader.protocols.clock import Clock
from arduino_trader.protocols.runtime import Bus
from arduino_trader.protocols.store import Database

if TYPE_CHECKING:
    from arduino_trader.daemon.api.event_hub import EventHub
    from arduino_trader.daemon.api.routes_streams import StreamTiming
    from arduino_trader.daemon.caches import CacheRegistry
    from arduino_trader.daemon.restart import ExitRequest
    from arduino_trader.daemon.scheduler import Scheduler
    from arduino_trader.daemon.settings_service import SettingsService


@dataclass
class ApiContext:
    """Shared by all handlers through ``request.app[CONTEXT]``."""

    bus: Bus
    store: Database
    clock: Clock
    settings: SettingsService
    scheduler: Scheduler
    data_dir: Path
    token: str
    executor: ThreadPoolExecutor
    broker: Broker | None = None
    """The live broker (the portfolio, broker and rebalancing views ask it)."""
    caches: CacheRegistry | None = None
    """The in-memory caches ``reset-cache`` clears."""
    exit_request: ExitRequest | None = None
    """How the restart route asks the main thread to exit."""
    events: EventHub | None = None
    """The event hub the streams serve; None: streams answer 503."""
    stream_timing: StreamTiming | None = None
    """Heartbeat and write timeout of the streams (None: the defaults)."""
    calendars: MarketCalendars | None = None
    """The daemon's market calendars (the ones its actors trade by); None: the markets
    view answers 503."""
    health_executor: ThreadPoolExecutor | None = None
    """Where asks of the health monitor wait (None: ``executor``): a pool of their own,
    so ``/health`` answers while slow asks of other actors fill ``executor``."""
    started_at: float = 0.0


CONTEXT = web.AppKey("arduino_trader_context", ApiContext)
READS = web.AppKey("arduino_trader_reads", ReadOnlyDb)


def ctx_of(request: web.Request) -> ApiContext:
    """The :class:`ApiContext` of the app serving ``request``."""
    return request.app[CONTEXT]


def reads_of(request: web.Request) -> ReadOnlyDb:
    """The read-only connection the handlers' queries run on."""
    return request.app[READS]
