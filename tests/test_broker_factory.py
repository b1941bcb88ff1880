"""Wiring of the broker adapters from settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from arduino_trader.adapters.broker_factory import build_brokers, probe_broker
from arduino_trader.adapters.clock import SystemClock
from arduino_trader.adapters.paper_broker import PaperBroker
from arduino_trader.adapters.sandbox.server import DEMO_PRIVATE_KEY, DEMO_PUBLIC_KEY
from arduino_trader.adapters.tradernet.client import TradernetClient
from arduino_trader.config.settings import Settings, load_settings
from arduino_trader.protocols.broker import OrderRequest
from arduino_trader.protocols.broker_errors import OrdersDisabled
from tests.broker_support import running_sandbox


def test_paper_is_default_and_the_same_object() -> None:
    settings = load_settings(None, environ={})
    broker, paper = build_brokers(lambda: settings, store=None, clock=SystemClock())  # type: ignore[arg-type]
    assert broker is paper and isinstance(paper, PaperBroker) and broker.simulated


async def test_tradernet_reads_keys_and_mode_fresh(tmp_path: Path) -> None:
    with running_sandbox(tmp_path / "s.json") as thread:
        current: list[Settings] = [load_settings(None, environ={
            "ARDUINO_TRADER_BROKER__KIND": "tradernet",
            "ARDUINO_TRADER_BROKER__BASE_URL": thread.url})]
        broker, paper = build_brokers(lambda: current[0], store=None,  # type: ignore[arg-type]
                                      clock=SystemClock())
        assert isinstance(broker, TradernetClient) and broker is not paper
        try:
            connected, message = await probe_broker(broker)
            assert not connected and "not configured" in message
            current[0] = current[0].with_overrides({"tradernet_api_key": DEMO_PUBLIC_KEY,
                                                    "tradernet_api_secret": DEMO_PRIVATE_KEY})
            connected, message = await probe_broker(broker)
            assert connected, message
            request = OrderRequest("AAPL.US", "BUY", 1, user_order_id=3)
            with pytest.raises(OrdersDisabled):  # research mode: no orders
                await broker.place_order(request)
            current[0] = current[0].with_overrides({"trading_mode": "live"})
            ack = await broker.place_order(request)
            assert ack.order_id > 0
        finally:
            await broker.close()


async def test_order_timeout_and_lookup_delay_reach_the_client() -> None:
    """broker.order_timeout_s and broker.order_lookup_delay_s (the spacing of the lookups
    by client id after a lost placement answer) configure the Tradernet client."""
    settings = load_settings(None, environ={
        "ARDUINO_TRADER_BROKER__KIND": "tradernet",
        "ARDUINO_TRADER_BROKER__ORDER_TIMEOUT_S": "3",
        "ARDUINO_TRADER_BROKER__ORDER_LOOKUP_DELAY_S": "0.5"})
    broker, _ = build_brokers(lambda: settings, store=None, clock=SystemClock())  # type: ignore[arg-type]
    assert isinstance(broker, TradernetClient)
    try:
        assert broker.config.order_timeout_s == 3.0
        assert broker.config.lookup_delay_s == 0.5
    finally:
        await broker.close()
    assert load_settings(None, environ={}).typed.broker.order_lookup_delay_s == 2.0
