"""Builds the configured broker adapters from settings (used by the daemon's wiring)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from arduino_trader.config.settings import Settings
from arduino_trader.domain.execution.costs import CostModel
from arduino_trader.protocols.broker import Broker
from arduino_trader.protocols.broker_errors import BrokerError
from arduino_trader.protocols.clock import Clock
from arduino_trader.protocols.market_data import MarketData
from arduino_trader.protocols.store import Database

from .paper_broker import PaperBroker
from .paper_ledger import PaperFees
from .paper_prices import MarketDataPrices
from .tradernet.client import TradernetClient
from .tradernet.client_config import ClientConfig


def paper_fees(settings: Settings) -> PaperFees:
    """The configured trading costs (fixed EUR + fraction) as the paper broker charges them."""
    costs = CostModel.from_settings(settings)
    return PaperFees(fixed_eur=costs.fixed_eur, percent=costs.fraction)


def build_paper(settings: Callable[[], Settings], store: Database, clock: Clock,
                market_data: MarketData | None) -> PaperBroker:
    """The paper broker, priced by the market-data source when there is one."""
    prices = MarketDataPrices(market_data) if market_data is not None else None
    return PaperBroker(store, clock, fees=lambda: paper_fees(settings()), prices=prices,
                       eur_rates=prices.rates if prices is not None else None,
                       initial_cash_eur=settings().typed.broker.paper_initial_cash_eur,
                       slippage_bps=lambda: settings().typed.broker.paper_slippage_bps)


def build_tradernet(settings: Callable[[], Settings]) -> TradernetClient:
    """The Tradernet client; orders only while ``trading_mode`` is ``live`` (read fresh)."""
    s = settings()
    config = ClientConfig(
        base_url=s.typed.broker.base_url,
        public_key=s.typed.tradernet_api_key,
        private_key=s.typed.tradernet_api_secret,
        timeout_s=s.typed.broker.timeout_s,
        order_timeout_s=s.typed.broker.order_timeout_s,
        lookup_delay_s=s.typed.broker.order_lookup_delay_s,
        read_retries=s.typed.broker.read_retries,
        requests_per_minute=s.typed.broker.requests_per_minute,
        burst=s.typed.broker.burst,
        breaker_failures=s.typed.broker.breaker_failures,
        breaker_cooldown_s=s.typed.broker.breaker_cooldown_s,
    )
    return TradernetClient(
        config, orders_allowed=lambda: settings().typed.trading_mode == "live",
        # Keys are read per request, so keys set at runtime work without a restart.
        credentials=lambda: (settings().typed.tradernet_api_key,
                             settings().typed.tradernet_api_secret))


def build_brokers(settings: Callable[[], Settings], store: Database, clock: Clock,
                  market_data: MarketData | None = None) -> tuple[Broker, PaperBroker]:
    """(the configured broker, the paper broker); they are the same object for ``paper``."""
    paper = build_paper(settings, store, clock, market_data)
    if settings().typed.broker.kind == "tradernet":
        return build_tradernet(settings), paper
    return paper, paper


async def probe_broker(broker: Broker, timeout_s: float = 30.0) -> tuple[bool, str]:
    """A real connectivity probe: (connected, message). Never raises for broker failures."""
    try:
        description = await asyncio.wait_for(broker.probe(), timeout_s)
    except TimeoutError:
        return False, f"no answer within {timeout_s:g} s"
    except BrokerError as exc:
        return False, f"{exc.kind}: {exc.message}"
    if isinstance(broker, TradernetClient):
        return True, f"Tradernet reachable at {broker.config.base_url} ({description})"
    return True, description
