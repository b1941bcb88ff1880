"""``arduino-trader run --demo``: the real daemon, offline, on a demo account.

Research mode, the paper broker and the bundled real closes re-dated to end yesterday
(``ReplaySource(end_on=...)``), so every actor — sync, scoring, planning, recommendations,
satellites, the status page — has real content within a minute on the wall clock. The
paper account is seeded once (EUR opening cash, a USD deposit and a few positions bought at
the bundled prices, booked into core's ledger like any fill); a restart on the same data
directory keeps the account as it is.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import structlog

from arduino_trader.adapters.market_data.replay_data import parse_fx_setting
from arduino_trader.adapters.market_data.replay_source import ReplaySource
from arduino_trader.adapters.store.satellites_repo import SqliteBucketLedger
from arduino_trader.config.settings import Settings
from arduino_trader.domain.satellites.balances import fee_source_id, settle_trade, trade_fee
from arduino_trader.protocols.broker import OrderRequest
from arduino_trader.protocols.bucket_ledger import Operation
from arduino_trader.protocols.satellite_records import CORE_ID

from .demo_narrator import with_narrator
from .demo_timing import dated, session_close, sessions_ending
from .service import DaemonOptions, TraderDaemon
from .supervisor import ActorSpec

log = structlog.get_logger(component="demo")

DEMO_SEED_COMMENT = "demo account"
# Settings the demo forces (the replay source, research mode on the paper broker).
DEMO_OVERRIDES: dict[str, Any] = {"market_data.source": "replay", "broker.kind": "paper",
                                  "trading_mode": "research",
                                  "market_data.replay_prices_file": "",
                                  # plan a few seconds after the first syncs, not a minute
                                  "planner_debounce_seconds": 5}


@dataclass(frozen=True)
class DemoHolding:
    """A position bought when the demo account is seeded."""

    symbol: str
    quantity: int


DEMO_USD_DEPOSIT = Decimal("15000")
DEMO_HOLDINGS: tuple[DemoHolding, ...] = (
    DemoHolding("AAPL.US", 20), DemoHolding("BAC.US", 60), DemoHolding("AMD.US", 15))
_SEED_ORDER_ID_BASE = 1_900_000_000


def demo_settings(settings: Settings) -> Settings:
    """``settings`` with the demo's forced values (validated like any override)."""
    return settings.with_overrides(DEMO_OVERRIDES)


class DemoDaemon(TraderDaemon):
    """The daemon on re-dated bundled history with a seeded paper account."""

    def __init__(self, options: DaemonOptions) -> None:
        super().__init__(options)
        self.seeded = False

    def _market_source(self) -> Any:
        if self._market_data is None:
            assert self.settings is not None
            yesterday = self.clock.now().date() - timedelta(days=1)
            fx = parse_fx_setting(self.settings.current().typed.market_data.replay_fx_rates)
            self._market_data = ReplaySource(self.clock, fx=fx, end_on=yesterday,
                                             sessions=sessions_ending)
        return self._market_data

    def actor_specs(self) -> list[ActorSpec]:
        """The daemon's actors plus the narrator of closed-market waits."""
        return with_narrator(super().actor_specs())

    def _start_actors(self) -> None:
        self.seeded = self._seed()
        super()._start_actors()

    def _seed(self) -> bool:
        """Seed the paper account, or finish a seeding a crash interrupted; False when
        everything was seeded before. Every step is idempotent on restart: the deposit is
        found by its comment (its time dates the whole seed), each buy by its client order
        id, and each ledger booking by the trade key it is stored under."""
        paper = self._broker_pair()[1]
        row = self.store.fetch_one(
            "SELECT at FROM paper_cash_flows WHERE comment = ? ORDER BY flow_id LIMIT 1",
            (DEMO_SEED_COMMENT,))
        seeded_at = (datetime.fromtimestamp(int(row["at"]), UTC) if row is not None
                     else session_close(self._market_source().last_day))  # not today's
        with dated(paper, seeded_at):
            wrote = bool(self.io.run(self._seed_account(paper, deposit=row is None),
                                     timeout=60))
        booked = self._book_seed_buys(paper, seeded_at)
        if wrote or booked:
            log.info("demo_account_seeded", usd_deposit=str(DEMO_USD_DEPOSIT),
                     holdings=[h.symbol for h in DEMO_HOLDINGS], resumed=row is not None)
        return wrote or booked > 0

    @staticmethod
    async def _seed_account(paper: Any, *, deposit: bool) -> bool:
        """The demo's deposit (when ``deposit``) and each seed buy not placed before, on
        the paper account; True when anything was written now."""
        wrote = False
        if deposit:
            await paper.deposit("USD", DEMO_USD_DEPOSIT, DEMO_SEED_COMMENT)
            wrote = True
        for i, holding in enumerate(DEMO_HOLDINGS, start=1):
            if await paper.find_order(_SEED_ORDER_ID_BASE + i) is None:
                await paper.place_order(OrderRequest(holding.symbol, "BUY", holding.quantity,
                                                     _SEED_ORDER_ID_BASE + i))
                wrote = True
        return wrote

    @staticmethod
    async def _seed_fills(paper: Any, on: date) -> list[Any]:
        """The paper account's fills of the seed buys on ``on``."""
        seed_orders: set[int] = set()
        for i in range(1, len(DEMO_HOLDINGS) + 1):
            order = await paper.find_order(_SEED_ORDER_ID_BASE + i)
            if order is not None:
                seed_orders.add(order.order_id)
        return [t for t in await paper.trades(on, on) if t.order_id in seed_orders]

    def _book_seed_buys(self, paper: Any, at: datetime) -> int:
        """The seeded buys are history like any other: each settles against core's
        ledger (value, then its commission), keyed by the trade key the broker sync
        stores it under, so the ledger matches the paper account's cash from the start
        (the opening cash and the deposit arrive through the cash-flow sync); ``at`` is
        when the seed is dated. A buy booked before (by this or the sync) is left alone;
        returns how many bookings were written now."""
        now = at
        written = 0
        for t in self.io.run(self._seed_fills(paper, at.date()), timeout=60):
            key = f"research:{t.trade_id}"
            ops = [(settle_trade(CORE_ID, t.value, t.currency, "buy", key, now), key)]
            if t.fee:
                ops.append((trade_fee(CORE_ID, t.fee, t.currency, key, now),
                            fee_source_id(key)))
            for entries, source in ops:
                applied = SqliteBucketLedger(self.store).apply_operation(
                    Operation(entries, source=("trade", source)), now)
                written += applied is not None
        return written
