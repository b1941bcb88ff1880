"""The metric families of one ``GET /metrics`` scrape and their text exposition.

Imported by the route on its first scrape, not with the API: prometheus_client holds
~4 MB that a daemon nobody scrapes does not need.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    InfoMetricFamily,
    Metric,
    SummaryMetricFamily,
)
from prometheus_client.registry import Collector

from arduino_trader import __version__

from .routes_metrics import LEVELS


class _Snapshot(Collector):
    """Turns one scrape's snapshot into metric families."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data

    def collect(self) -> Iterator[Metric]:
        d = self.data
        info = InfoMetricFamily("arduino_trader_build", "Version and trading mode")
        info.add_metric([], {"version": __version__, "trading_mode": d["trading_mode"],
                             "broker": d["broker"]})
        yield info
        yield GaugeMetricFamily("arduino_trader_health_level",
                                "Health: 0 ok, 1 degraded, 2 failing", value=d["level"])
        alive = GaugeMetricFamily("arduino_trader_actor_alive", "1 when the actor answers "
                                  "heartbeats", labels=["actor"])
        restarts = GaugeMetricFamily("arduino_trader_actor_restarts",
                                     "Restarts since the daemon started", labels=["actor"])
        for name, actor in sorted(d["actors"].items()):
            alive.add_metric([name], 1.0 if actor.get("alive") else 0.0)
            restarts.add_metric([name], float(actor.get("restarts", 0)))
        yield alive
        yield restarts
        component = GaugeMetricFamily("arduino_trader_component_level", "Broker / market "
                                      "data reachability: 0 ok, 1 degraded, 2 failing",
                                      labels=["component"])
        for name, comp in sorted(d["components"].items()):
            component.add_metric([name], float(LEVELS.get(str(comp.get("level")), 2)))
        yield component
        duration = GaugeMetricFamily("arduino_trader_job_last_duration_seconds",
                                     "Duration of the job's last run", labels=["job"])
        failures = GaugeMetricFamily("arduino_trader_job_consecutive_failures",
                                     "Failed runs since the last success", labels=["job"])
        runs = GaugeMetricFamily("arduino_trader_job_runs", "Runs since the daemon started",
                                 labels=["job"])
        for job in d["jobs"]:
            if job.get("last_duration_s") is not None:
                duration.add_metric([job["name"]], float(job["last_duration_s"]))
            failures.add_metric([job["name"]], float(job["consecutive_failures"]))
            runs.add_metric([job["name"]], float(job.get("runs", 0)))
        yield duration
        yield failures
        yield runs
        orders = GaugeMetricFamily("arduino_trader_orders", "Journal entries by mode and "
                                   "state", labels=["mode", "state"])
        for mode, state, count in d["orders"]:
            orders.add_metric([mode, state], float(count))
        yield orders
        rejected = GaugeMetricFamily("arduino_trader_order_rejections", "Orders refused by "
                                     "the safety pipeline, by layer and code",
                                     labels=["layer", "code"])
        for layer, code, count in d["rejections"]:
            rejected.add_metric([layer, code], float(count))
        yield rejected
        trades = GaugeMetricFamily("arduino_trader_trades", "Fills in the ledger by mode",
                                   labels=["mode"])
        for mode, count in d["trades"]:
            trades.add_metric([mode], float(count))
        yield trades
        snapshot = d["snapshot"]
        if snapshot is not None:
            yield GaugeMetricFamily("arduino_trader_portfolio_value_eur", "Positions plus "
                                    "cash at the last sync (EUR)", value=float(snapshot[0]))
            yield GaugeMetricFamily("arduino_trader_portfolio_invested_eur", "Positions at "
                                    "the last sync (EUR)", value=float(snapshot[1]))
        calls = CounterMetricFamily("arduino_trader_broker_requests", "Broker API calls by "
                                    "command", labels=["command"])
        errors = CounterMetricFamily("arduino_trader_broker_errors", "Failed broker API "
                                     "calls by command and error kind",
                                     labels=["command", "kind"])
        latency = SummaryMetricFamily("arduino_trader_broker_latency_seconds",
                                      "Broker API call latency", labels=["command"])
        for command, st in sorted(d["broker_stats"].items()):
            calls.add_metric([command], float(st.calls))
            latency.add_metric([command], count_value=st.calls,
                               sum_value=st.latency_sum_s)
            for kind, n in sorted(st.errors.items()):
                errors.add_metric([command, kind], float(n))
        yield calls
        yield errors
        yield latency
        planner = d["planner"]
        if planner is not None:
            yield GaugeMetricFamily("arduino_trader_planner_last_duration_seconds",
                                    "Duration of the last plan run", value=planner[0] / 1000)
            yield GaugeMetricFamily("arduino_trader_planner_runs", "Plan runs stored",
                                    value=float(planner[1]))
        cash = GaugeMetricFamily("arduino_trader_cash", "Cash per currency at the last sync, "
                                 "in that currency (negative = a debt to repair)",
                                 labels=["currency"])
        for currency, amount in d["cash"]:
            cash.add_metric([currency], float(amount))
        yield cash


def exposition(data: dict[str, Any]) -> bytes:
    """The Prometheus text exposition of one scrape's ``data``."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Snapshot(data))
    return generate_latest(registry)
