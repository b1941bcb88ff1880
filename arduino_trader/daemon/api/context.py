"""What every handler can reach: the bus, the store, settings, scheduler, resources."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web

from arduino_trader.adapters.store.api_queries.connection import ReadOnlyDb
from arduino_trader.protocols.clock import Clock
from arduino_trader.protocols.runtime import Bus
from arduino_trader.protocols.store import Database

if TYPE_CHECKING:
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
    resources: dict[str, Any] = field(default_factory=dict)
    started_at: float = 0.0


CONTEXT = web.AppKey("arduino_trader_context", ApiContext)
READS = web.AppKey("arduino_trader_reads", ReadOnlyDb)


def ctx_of(request: web.Request) -> ApiContext:
    """The :class:`ApiContext` of the app serving ``request``."""
    return request.app[CONTEXT]


def reads_of(request: web.Request) -> ReadOnlyDb:
    """The read-only connection the handlers' queries run on."""
    return request.app[READS]
