"""The broker's listing of an instrument being onboarded, for the market-data actor.

The market-data source must describe the same listing the broker trades (currency),
else its prices would be in another unit; the actor passes this to ``lookup``.
"""

from __future__ import annotations

from collections.abc import Callable

from arduino_trader.protocols.broker import Broker
from arduino_trader.protocols.market_data import Listing
from arduino_trader.protocols.runtime import IoRunner

BROKER_TIMEOUT_S = 60.0


def listing_feed(io: IoRunner, broker: Broker) -> Callable[[str], Listing | None]:
    """``identifier`` (ISIN or broker ticker) → the broker's listing (``tickerFinder``'s
    currency, else ``getSecurityInfo``'s), None when the broker does not list it."""

    def listing(identifier: str) -> Listing | None:
        key = identifier.strip().upper()
        hits = io.run(broker.find_security(key), timeout=BROKER_TIMEOUT_S)
        hit = next((h for h in hits if key in (h.isin.upper(), h.symbol.upper())), None)
        if hit is None:
            return None
        currency = hit.currency or io.run(broker.security_info(hit.symbol),
                                          timeout=BROKER_TIMEOUT_S).currency
        return Listing(currency.upper()) if currency else None

    return listing
