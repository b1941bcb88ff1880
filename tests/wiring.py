"""Wiring for rigs that start actors: the adapters the actor under test uses, and a broker
that fails loudly where a rig wires none."""

from __future__ import annotations

from typing import Any

from arduino_trader.actors.dependencies import Dependencies
from arduino_trader.adapters.store.repositories import store_repositories
from arduino_trader.protocols.store import Database


class NoBroker:
    """Stands in for a broker the rig does not wire: any use of it fails the test."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"this rig wires no broker, yet the actor used broker.{name}")


def wired(store: Database, *, broker: Any = None, paper_broker: Any = None,
          **optional: Any) -> Dependencies:
    """:class:`Dependencies` of ``store`` (every repository on it too), the brokers given
    (else :class:`NoBroker`) and the optional adapters named in ``optional``."""
    return Dependencies(store=store, broker=NoBroker() if broker is None else broker,
                        paper_broker=NoBroker() if paper_broker is None else paper_broker,
                        **store_repositories(store), **optional)
