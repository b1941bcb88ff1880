"""The daemon: wires store, settings, actors, scheduler and admin API; starts and stops."""

from __future__ import annotations

import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import structlog
from aiohttp import web

from arduino_trader.actors import broker_probe as broker_probe_actor
from arduino_trader.actors import cash_flows as cash_flows_actor
from arduino_trader.actors import executor as executor_actor
from arduino_trader.actors import health as health_actor
from arduino_trader.actors import maintenance as maintenance_actor
from arduino_trader.actors import market_data as market_data_actor
from arduino_trader.actors import planner as planner_actor
from arduino_trader.actors import portfolio as portfolio_actor
from arduino_trader.actors import satellites as satellites_actor
from arduino_trader.actors.base import ActorContext, MissingDependency
from arduino_trader.actors.dependencies import Dependencies
from arduino_trader.adapters.broker_factory import build_brokers
from arduino_trader.adapters.clock import SystemClock
from arduino_trader.adapters.market_data.calendars import MarketCalendars
from arduino_trader.adapters.market_data.factory import build_source
from arduino_trader.adapters.paper_broker import PaperBroker
from arduino_trader.adapters.store import emergency_runs_repo, maintenance, settings_repo
from arduino_trader.adapters.store.repositories import store_repositories
from arduino_trader.adapters.store.sqlite import SqliteStore
from arduino_trader.config.settings import Settings
from arduino_trader.protocols.broker import Broker
from arduino_trader.protocols.cash_flows import DepositReceived
from arduino_trader.protocols.clock import Clock
from arduino_trader.protocols.execution import TradeExecuted
from arduino_trader.protocols.jobs import JobSpec
from arduino_trader.protocols.market_data import (
    FxRatesUpdated,
    MarketData,
    PricesUpdated,
    SecurityAdded,
)
from arduino_trader.protocols.messages import GetHealth, HealthReport, JobFinished
from arduino_trader.protocols.portfolio import PortfolioSynced
from arduino_trader.protocols.satellites import GetCashFlowContext

from .api.app import create_app
from .api.context import ApiContext
from .api.event_hub import EventHub
from .broker_listing import listing_feed
from .bus import ActorBus
from .caches import CacheRegistry
from .io_loop import IoLoop
from .locks import AlreadyRunning, PidFile
from .logging_setup import configure_logging, set_level
from .notify import SystemdNotifier
from .paths import DB_FILE, read_or_create_token
from .restart import ExitRequest
from .scheduler import Scheduler
from .secrets_box import SecretBox
from .settings_service import SettingsService
from .supervisor import ActorSpec, Supervisor

log = structlog.get_logger(component="daemon")

STOP_BUDGET_S = 10.0


class StartupError(RuntimeError):
    """The daemon cannot start; the message says why and what to do."""


@dataclass
class DaemonOptions:
    """How to run: settings snapshot, data directory, and test hooks."""

    settings: Settings
    data_dir: Path
    clock: Clock = field(default_factory=SystemClock)
    configure_logs: bool = True
    port_override: int | None = None
    supervisor_backoff_s: float = 1.0
    durable_store: bool = True  # False: a throwaway store (backtests), no fsync per commit


class TraderDaemon:
    """The whole process, startable in-process (tests) or from the CLI."""

    def __init__(self, options: DaemonOptions) -> None:
        self.options = options
        self.data_dir = options.data_dir
        self.clock = options.clock
        self.io = IoLoop()
        self.bus = ActorBus()
        self.store = SqliteStore(self.data_dir / DB_FILE, durable=options.durable_store)
        self.caches = CacheRegistry()
        self.notifier = SystemdNotifier.from_env()
        self.exit_request = ExitRequest()  # set by a signal or the restart route
        self.pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="api-ask")
        self.health_pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="api-health")
        self.settings: SettingsService | None = None
        self.scheduler: Scheduler | None = None
        self.supervisor: Supervisor | None = None
        self.port: int | None = None
        self.token = ""
        self._runner: web.AppRunner | None = None
        self._pid: PidFile | None = None
        self._stopped = threading.Event()
        self._stopping = threading.Event()
        self._started = False
        self._market_data: MarketData | None = None
        self._brokers: tuple[Broker, PaperBroker] | None = None
        self._calendars = MarketCalendars(today=self.clock.now().date())

    # ------------------------------------------------------------------ start
    def start(self) -> None:
        """Bring everything up; raises :class:`StartupError` with a clear reason."""
        base = self.options.settings
        try:
            self.data_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StartupError(f"cannot create data directory {self.data_dir}: {exc}") from exc
        pid = PidFile(self.data_dir / "arduino-trader.pid")
        try:
            pid.acquire()
        except AlreadyRunning as exc:
            raise StartupError(str(exc)) from exc
        except OSError as exc:  # e.g. a read-only data directory
            raise StartupError(f"cannot write in data directory {self.data_dir}: "
                               f"{exc.strerror or exc}") from exc
        self._pid = pid
        if self.options.configure_logs:
            configure_logging(base.typed.log.level, self._secret_values)
        self.io.start()
        try:
            applied = self.store.open()
        except Exception as exc:
            self._abort()
            raise StartupError(f"cannot open database {self.store.path}: {exc}") from exc
        log.info("store_opened", path=str(self.store.path), migrations_applied=applied)
        stale = emergency_runs_repo.close_interrupted_emergency_runs(self.store, self.clock.now())
        if stale:
            log.warning("emergency_runs_interrupted", count=stale)
        self.settings = SettingsService(base, settings_repo.SqliteSettingsStore(self.store),
                                        SecretBox(self.data_dir / "secret.key"), self.clock)
        effective = self.settings.load()
        self.settings.add_listener(self._on_settings_changed)
        self.token = self._token(effective)
        self._start_actors()
        self._start_scheduler()
        self._start_api(effective)
        self._started = True
        self.notifier.ready()
        self.notifier.status(f"running on {effective.typed.api.host}:{self.port}")
        log.info("daemon_started", port=self.port, data_dir=str(self.data_dir),
                 trading_mode=effective.typed.trading_mode, pid=os.getpid())

    def _secret_values(self) -> list[str]:
        settings = self.settings.current() if self.settings else self.options.settings
        return [*settings.secret_values(), *([self.token] if self.token else [])]

    def _token(self, settings: Settings) -> str:
        configured = settings.typed.api.token
        if configured:
            return configured
        token, path, created = read_or_create_token(self.data_dir)
        log.info("api_token_file", path=str(path), created=created)
        return token

    def _actor_context(self) -> ActorContext:
        assert self.settings is not None
        return ActorContext(bus=self.bus, io=self.io, clock=self.clock,
                            settings=self.settings.current, stopping=self._stopping,
                            deps=self.dependencies())

    def dependencies(self) -> Dependencies:
        """The actors' adapters; a real broker also gives its cross rates and listings."""
        broker, paper = self._broker_pair()
        real = not broker.simulated
        return Dependencies(store=self.store, broker=broker, paper_broker=paper,
                            **store_repositories(self.store),
                            calendars=self._calendars, market_data=self._market_source(),
                            caches=self.caches, broker_positions=self._broker_positions,
                            broker_fx=self._broker_eur_per if real else None,
                            broker_listing=listing_feed(self.io, broker) if real else None)

    def actor_specs(self) -> list[ActorSpec]:
        """Every actor of this daemon, health first."""
        names = ("health", "maintenance", "market_data", "broker_probe", "executor", "portfolio",
                 "cash_flows", "planner", "satellites")
        return [
            ActorSpec("health", health_actor.HealthActor,
                      {"expected": names, "run_checks": self._run_checks},
                      subscriptions=(JobFinished,)),
            ActorSpec("maintenance", maintenance_actor.MaintenanceActor,
                      {"backups_dir": self.data_dir / "backups"}, depends_on=("health",)),
            ActorSpec("market_data", market_data_actor.MarketDataActor,
                      {"source": self._market_source()}, depends_on=("health",)),
            ActorSpec("broker_probe", broker_probe_actor.BrokerProbeActor, {},
                      depends_on=("health",)),
            ActorSpec("executor", executor_actor.ExecutorActor, {},
                      depends_on=("health", "market_data")),
            ActorSpec("portfolio", portfolio_actor.PortfolioActor, {},
                      depends_on=("health", "market_data"),
                      subscriptions=(PricesUpdated, SecurityAdded)),
            ActorSpec("cash_flows", cash_flows_actor.CashFlowActor,
                      {"context_for": self._cash_flow_context},
                      depends_on=("health", "executor"),
                      subscriptions=(TradeExecuted, FxRatesUpdated)),
            ActorSpec("planner", planner_actor.PlannerActor, {},
                      depends_on=("health", "market_data", "executor"),
                      subscriptions=(PricesUpdated, PortfolioSynced, DepositReceived)),
            ActorSpec("satellites", satellites_actor.SatelliteActor, {},
                      depends_on=("health",), subscriptions=satellites_actor.SUBSCRIPTIONS),
        ]

    def _cash_flow_context(self, rates: Any) -> Any:
        """The satellite manager's deposit split and income buckets; core only without it."""
        try:
            return self.bus.ask("satellites", GetCashFlowContext(rates), 30)
        except Exception as exc:
            log.warning("cash_flow_context_core_only", error=repr(exc))
            return cash_flows_actor.core_only_context(rates)

    def _broker_pair(self) -> tuple[Broker, PaperBroker]:
        """(configured broker, paper broker), built once: Tradernet if broker.kind says so."""
        if self._brokers is None:
            assert self.settings is not None
            self._brokers = build_brokers(self.settings.current, self.store, self.clock,
                                          self._market_source())
        return self._brokers

    def _broker_positions(self) -> list[str]:
        """The tickers the configured broker's account holds (universe rebuild)."""
        account = self.io.run(self._broker_pair()[0].account(), timeout=60)
        return [p.symbol for p in account.positions]

    def _broker_eur_per(self, code: str) -> Decimal:
        """The EUR value of one unit of ``code`` from the broker's cross rates."""
        rates = self.io.run(self._broker_pair()[0].cross_rates("EUR", (code,)), timeout=60)
        rate = rates.get(code)
        if rate is None or rate <= 0:
            raise ValueError(f"the broker has no EUR/{code} rate")
        return Decimal(1) / rate

    def _market_source(self) -> MarketData:
        """The configured market-data source (built once, from the effective settings)."""
        if self._market_data is None:
            assert self.settings is not None
            self._market_data = build_source(self.settings.current(), self.clock,
                                             self.data_dir / "cache")
        return self._market_data

    def job_specs(self) -> tuple[JobSpec, ...]:
        """Every job of this daemon."""
        return (health_actor.JOBS + maintenance_actor.JOBS + market_data_actor.JOBS
                + broker_probe_actor.JOBS + executor_actor.JOBS + portfolio_actor.JOBS
                + cash_flows_actor.JOBS + planner_actor.JOBS + satellites_actor.JOBS)

    def _start_actors(self) -> None:
        self.supervisor = Supervisor(self.bus, self._actor_context(), self.clock,
                                     backoff_base_s=self.options.supervisor_backoff_s)
        try:
            self.supervisor.start_all(self.actor_specs())
        except MissingDependency as exc:
            self.stop()
            raise StartupError(f"the daemon is wired wrongly: {exc}") from exc

    def _start_scheduler(self) -> None:
        assert self.settings is not None
        self.scheduler = Scheduler(bus=self.bus, store=self.store, clock=self.clock,
                                   settings=self.settings.current)
        for spec in self.job_specs():
            self.scheduler.register(spec)
        interrupted = self.scheduler.close_interrupted_runs()
        if interrupted:
            log.warning("job_runs_interrupted", count=interrupted)
        self.scheduler.start()

    def _start_api(self, settings: Settings) -> None:
        assert self.settings is not None and self.scheduler is not None
        hub = EventHub(self.io.loop, first_id=time.time_ns() // 1_000_000)
        self.bus.listen(hub.offer)
        ctx = ApiContext(bus=self.bus, store=self.store, clock=self.clock,
                         settings=self.settings, scheduler=self.scheduler,
                         data_dir=self.data_dir, token=self.token, executor=self.pool,
                         health_executor=self.health_pool,
                         broker=self._broker_pair()[0], caches=self.caches,
                         exit_request=self.exit_request, events=hub,
                         calendars=self._calendars, started_at=time.monotonic())
        app = create_app(ctx)
        host, port = settings.typed.api.host, self.options.port_override
        port = settings.typed.api.port if port is None else port

        async def serve() -> tuple[web.AppRunner, int]:
            runner = web.AppRunner(app, access_log=None, handle_signals=False)
            await runner.setup()
            site = web.TCPSite(runner, host, port, reuse_address=True)
            await site.start()
            bound = runner.addresses[0][1] if runner.addresses else port
            return runner, int(bound)

        try:
            self._runner, self.port = self.io.run(serve(), timeout=30)
        except OSError as exc:
            self.stop()
            raise StartupError(f"cannot listen on {host}:{port}: {exc}") from exc

    # ----------------------------------------------------------------- running
    def _on_settings_changed(self, keys: tuple[str, ...], settings: Settings) -> None:
        if "log.level" in keys:
            set_level(settings.typed.log.level)
        if any(k.startswith("job_") for k in keys) and self.scheduler is not None:
            self.scheduler.reschedule()

    def _run_checks(self) -> dict[str, Any]:
        problems = maintenance.quick_check(self.store)
        usage = maintenance.disk_usage(self.data_dir)
        return {
            "database": {"ok": problems == ["ok"],
                         "message": "quick_check ok" if problems == ["ok"] else
                         "; ".join(problems[:5])},
            "wal_bytes": maintenance.wal_size_bytes(self.store.path),
            "disk": {"free_bytes": usage.free, "total_bytes": usage.total},
        }

    def health(self, timeout: float = 5.0) -> HealthReport | None:
        """The health monitor's report, or None when it does not answer."""
        try:
            report = self.bus.ask("health", GetHealth(), timeout)
        except Exception:
            return None
        return report if isinstance(report, HealthReport) else None

    def watchdog_tick(self) -> bool:
        """Ping systemd's watchdog only while the monitor sees every actor alive."""
        report = self.health(timeout=2.0)
        alive = report is not None and report.actors_alive
        if alive:
            self.notifier.watchdog()
        else:
            log.warning("watchdog_withheld", reason="actors not alive" if report else
                        "health monitor not answering")
        return alive

    def wait(self, stop: threading.Event) -> None:
        """Block until ``stop`` is set, feeding the watchdog at half its interval."""
        interval = self.notifier.watchdog_interval()
        period = interval / 2 if interval else 5.0
        while not stop.wait(period):
            if interval:
                self.watchdog_tick()

    # -------------------------------------------------------------------- stop
    def stop(self) -> None:
        """Stop everything in reverse order within the 10 s budget (idempotent)."""
        if self._stopped.is_set():
            return
        self._stopped.set()
        self._stopping.set()
        deadline = time.monotonic() + STOP_BUDGET_S
        self.notifier.stopping()
        log.info("daemon_stopping")
        if self._runner is not None:
            try:
                self.io.run(self._runner.cleanup(), timeout=3)
            except Exception as exc:
                log.warning("api_stop_failed", error=repr(exc))
        if self.scheduler is not None:
            self.scheduler.stop(timeout=1)
        stuck: list[str] = []
        if self.supervisor is not None:
            stuck = self.supervisor.stop_all(timeout=max(1.0, deadline - time.monotonic() - 2))
        self._abort()
        self.pool.shutdown(wait=False, cancel_futures=True)
        self.health_pool.shutdown(wait=False, cancel_futures=True)
        log.info("daemon_stopped", stuck_actors=stuck)

    def _abort(self) -> None:
        try:
            if self.io.loop.is_running() and self._brokers is not None:
                self.io.run(self._brokers[0].close(), timeout=5)
        except Exception as exc:
            log.warning("broker_close_failed", error=repr(exc))
        try:
            self.store.close()
        except Exception as exc:
            log.warning("store_close_failed", error=repr(exc))
        self.io.stop()
        if self._pid is not None:
            self._pid.release()
