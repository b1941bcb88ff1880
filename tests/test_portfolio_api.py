"""Portfolio, chart and status endpoints on a running daemon (paper broker, loopback):
what is known is answered, what is missing is named, bad input is a 400, never a 500."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from daemon_harness import Client, ProbeDaemon, start_daemon, wait_for

from arduino_trader.daemon import log_buffer
from arduino_trader.daemon.api.routes_portfolio import months_before

SAP = ("DE0007164600", "SAP.EU", "EUR", "Germany", "Software, Services")
AAPL = ("US0378331005", "AAPL.US", "USD", "United States", "Hardware")


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[ProbeDaemon]:
    d = start_daemon(tmp_path / "state")
    api = Client(d)
    wait_for(lambda: api.call("GET", "/api/system/jobs/sync_cycle")[1]["runs"] >= 1
             and api.call("GET", "/api/system/jobs/sync_cycle")[1]["status"] == "idle",
             timeout=60, what="the start-up sync cycle")
    yield d
    d.gate.set()
    d.stop()


@pytest.fixture
def api(daemon: ProbeDaemon) -> Client:
    return Client(daemon)


def _sql(daemon: ProbeDaemon, sql: str, params: tuple[Any, ...] = ()) -> None:
    daemon.store.execute(sql, params)


def _today(daemon: ProbeDaemon) -> date:
    return daemon.clock.now().date()


@pytest.fixture
def seeded(daemon: ProbeDaemon) -> None:
    """Two held securities (one in USD without a stored rate) and 20 old snapshots."""
    for isin, symbol, ccy, country, industry in (SAP, AAPL):
        _sql(daemon, "INSERT OR IGNORE INTO securities (isin, symbol, name, currency, country,"
             " industry, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, 0, 0)",
             (isin, symbol, symbol + " name", ccy, country, industry))
    _sql(daemon, "INSERT INTO portfolio_positions (symbol, isin, quantity, avg_price, currency,"
         " eur_per, current_price, market_value, market_value_eur, cost_basis_eur,"
         " unrealized_pnl_eur, price_updated_at, last_updated) VALUES "
         "('SAP.EU', ?, '3', '100', 'EUR', '1', '110', '330', '330', '300', '30', 0, 0),"
         "('AAPL.US', ?, '5', '150', 'USD', NULL, '150', '750', NULL, NULL, NULL, 0, 0)",
         (SAP[0], AAPL[0]))
    first = _today(daemon) - timedelta(days=40)
    for i in range(20):
        day = (first + timedelta(days=i)).isoformat()
        total = str(1000 + 10 * i + (500 if i >= 10 else 0))
        flow = "500" if i == 10 else "0"
        _sql(daemon, "INSERT INTO portfolio_snapshots (date, total_value, cash_balance, "
             "invested_value, unrealized_pnl, position_count, net_external_flow_eur, "
             "updated_at) VALUES (?, ?, '100', ?, '0', 1, ?, 0)", (day, total, total, flow))
        _sql(daemon, "INSERT INTO portfolio_snapshot_positions (date, symbol, isin, value_eur)"
             " VALUES (?, 'SAP.EU', ?, ?)", (day, SAP[0], total))
    bad = (first + timedelta(days=20)).isoformat()
    _sql(daemon, "INSERT INTO portfolio_snapshots (date, total_value, cash_balance, "
         "invested_value, unrealized_pnl, updated_at) VALUES (?, 'garbage', '0', '0', '0', 0)",
         (bad,))
    for i in range(400):
        day = (_today(daemon) - timedelta(days=i)).isoformat()
        _sql(daemon, "INSERT INTO price_history (isin, day, close, source) VALUES (?, ?, ?, 't')",
             (SAP[0], day, 100.0 + i))


def test_start_up_cycle_synced_the_paper_account(daemon: ProbeDaemon, api: Client) -> None:
    _, job = api.call("GET", "/api/system/jobs/sync_cycle")
    assert job["last_result"] == "ok", job["last_summary"]
    # The start-up cash-flow sync runs as its own job too: the cycle either ran the sync
    # or left it to that running job (busy), never both at once.
    assert ("cash_flows: synced" in job["last_summary"]
            or "cash_flows: cash_flows is running job cash_flow_sync" in job["last_summary"])
    code, cash = api.call("GET", "/api/portfolio/cash-breakdown")
    assert code == 200 and cash["missing_fx"] == []
    assert cash["balances"][0]["currency"] == "EUR" and cash["total_eur"] == "10000"
    _, hist = api.call("GET", "/api/portfolio/history?days=1")
    assert [s["date"] for s in hist["snapshots"]] == [_today(daemon).isoformat()]


def test_portfolio_views(api: Client, seeded: None) -> None:
    """Positions, summary, history, analytics and transactions on one seeded daemon."""
    _positions_and_summary_name_missing_fx(api)
    _history_skips_a_corrupt_row_and_validates_days(api)
    _analytics_are_flow_adjusted(api)
    _analytics_empty_with_a_reason_when_too_few_points(api)
    _transactions_without_cash_flows(api)


def _positions_and_summary_name_missing_fx(api: Client) -> None:
    code, body = api.call("GET", "/api/portfolio")
    assert code == 200
    assert [p["symbol"] for p in body["positions"]] == ["SAP.EU", "AAPL.US"]
    assert body["positions"][0]["name"] == "SAP.EU name"
    assert body["positions"][0]["country"] == "Germany"
    assert body["missing_fx"] == ["USD"] and body["total_value_eur"] is None
    code, summary = api.call("GET", "/api/portfolio/summary")
    assert code == 200
    assert summary["total_value"] is None and summary["invested_value"] is None
    assert summary["cash_balance"] == "10000"
    assert summary["allocations"] == {"EU": 100.0, "ASIA": 0.0, "US": 0.0, "OTHER": 0.0}
    assert summary["buckets"] == [{"bucket_id": "core", "invested_value": "330"}]
    assert summary["missing_fx"] == ["USD"]


def _history_skips_a_corrupt_row_and_validates_days(api: Client) -> None:
    code, body = api.call("GET", "/api/portfolio/history?days=90")
    assert code == 200 and body["count"] == 21 and len(body["skipped"]) == 1
    for bad in ("0", "3651", "ten", "-1"):
        code, err = api.call("GET", f"/api/portfolio/history?days={bad}")
        assert (code, err["error"]) == (400, "invalid_query")


def _analytics_are_flow_adjusted(api: Client) -> None:
    code, body = api.call("GET", "/api/portfolio/analytics?days=365")
    assert code == 200 and body["status"] == "ok", body
    daily = body["returns"]["daily"]
    assert len(daily) == 20  # 21 readable snapshots (20 seeded + today's)
    # Day 10: 1090 → 1600 with a 500 deposit: only 10 of the 510 is performance.
    assert daily[9]["return"] == pytest.approx(1100 / 1090 - 1)
    assert set(body["risk_metrics"]) == {"sharpe_ratio", "sortino_ratio", "calmar_ratio",
                                         "volatility", "max_drawdown"}
    assert body["risk_metrics"]["max_drawdown"] <= 0
    assert set(body["attribution"]) == {"country", "industry", "security"}
    assert set(body["attribution"]["industry"]) == {"Software", "Services"}
    assert body["turnover"]["status"] == "unknown"
    assert body["period"]["days"] == 20 and len(body["skipped"]) == 1


def _analytics_empty_with_a_reason_when_too_few_points(api: Client) -> None:
    code, body = api.call("GET", "/api/portfolio/analytics?days=5")
    assert code == 200 and "error" not in body, body
    assert body["status"] == "insufficient_data" and "at least 2" in body["reason"]
    assert body["returns"] == {} and body["risk_metrics"] == {}
    code, err = api.call("GET", "/api/portfolio/analytics?days=1")
    assert (code, err["error"]) == (400, "invalid_query")


def _transactions_without_cash_flows(api: Client) -> None:
    code, body = api.call("GET", "/api/portfolio/transactions")
    assert code == 200 and body["withdrawals"] == [] and body["total_withdrawals"] == "0"


def test_charts(daemon: ProbeDaemon, api: Client, seeded: None) -> None:
    code, lines = api.call("GET", "/api/charts/sparklines")
    assert code == 200
    sap = lines["SAP.EU"]
    assert sap[0]["time"] == months_before(_today(daemon), 12).isoformat()
    assert [p["time"] for p in sap] == sorted(p["time"] for p in sap)
    code, month = api.call("GET", f"/api/charts/securities/{SAP[0]}?range=1M")
    assert code == 200 and 28 <= len(month) <= 32
    assert month[-1] == {"time": _today(daemon).isoformat(), "value": 100.0}
    _, everything = api.call("GET", f"/api/charts/securities/{SAP[0]}?range=all")
    assert len(everything) == 400
    for path, status, error in (
            ("/api/charts/securities/NOTANISIN", 400, "invalid_isin"),
            ("/api/charts/securities/DE0007164601", 400, "invalid_isin"),
            (f"/api/charts/securities/{SAP[0]}?range=2W", 400, "invalid_range"),
            ("/api/charts/securities/US0231351067", 404, "security_unknown")):
        code, err = api.call("GET", path)
        assert (code, err["error"]) == (status, error), path


def test_database_and_disk_stats_and_logs(api: Client, ring: log_buffer.LogRing) -> None:
    _database_and_disk_stats(api)
    _logs_are_filtered_bounded_and_whitelisted(api)


def _database_and_disk_stats(api: Client) -> None:
    code, db = api.call("GET", "/api/system/database/stats")
    assert code == 200 and db["size_bytes"] > 0 and db["page_size"] > 0
    names = {t["name"] for t in db["tables"]}
    assert {"portfolio_positions", "portfolio_snapshots", "trades"} <= names
    code, disk = api.call("GET", "/api/system/disk")
    assert code == 200 and disk["total_bytes"] >= disk["free_bytes"] > 0
    assert 0 <= disk["used_pct"] <= 100 and disk["backups"]["count"] >= 0


@pytest.fixture
def ring() -> Iterator[log_buffer.LogRing]:
    root = logging.getLogger()
    handler = log_buffer.install(root, logging.Formatter(
        '{"level": "%(levelname)s", "event": "%(message)s"}'))
    old = root.level
    root.setLevel(logging.INFO)
    log_buffer.BUFFER.clear()
    yield log_buffer.BUFFER
    root.removeHandler(handler)
    root.setLevel(old)


def _logs_are_filtered_bounded_and_whitelisted(api: Client) -> None:
    log = logging.getLogger("portfolio-test")
    for i in range(30):
        log.info("routine_%d", i)
    log.error("job_failed")
    log.warning("watchdog_withheld")
    code, body = api.call("GET", "/api/system/logs?lines=5")
    assert code == 200 and body["count"] == 5
    assert [line["event"] for line in body["lines"]][-2:] == ["job_failed", "watchdog_withheld"]
    _, warn = api.call("GET", "/api/system/logs?level=warning")
    assert [line["event"] for line in warn["lines"]] == ["job_failed", "watchdog_withheld"]
    _, found = api.call("GET", "/api/system/logs?search=ROUTINE_2&lines=1000")
    assert [line["event"] for line in found["lines"]] == [
        "routine_2", *[f"routine_{i}" for i in range(20, 30)]]
    _, errors = api.call("GET", "/api/system/logs/errors")
    assert [line["event"] for line in errors["lines"]] == ["job_failed"]
    _, listed = api.call("GET", "/api/system/logs/list")
    assert [f["name"] for f in listed["files"]] == ["daemon"]
    for query, error in (("log_file=../../etc/passwd", "unknown_log_file"),
                         ("log_file=/etc/shadow", "unknown_log_file"),
                         ("lines=1001", "invalid_query"), ("lines=0", "invalid_query"),
                         ("lines=many", "invalid_query"), ("level=loud", "invalid_query"),
                         ("search=" + "x" * 201, "invalid_query")):
        code, err = api.call("GET", f"/api/system/logs?{query}")
        assert (code, err["error"]) == (400, error), query
    code, err = api.call("GET", "/api/system/logs/errors?lines=501")
    assert (code, err["error"]) == (400, "invalid_query")


def test_ring_keeps_only_the_newest_lines() -> None:
    ring = log_buffer.LogRing(capacity=3)
    for i in range(5):
        ring.append(log_buffer.LogLine("info", f"e{i}", f"line {i}"))
    assert [line.event for line in ring.tail(10)] == ["e2", "e3", "e4"]
    assert [line.event for line in ring.tail(1)] == ["e4"]


def test_configure_logging_feeds_the_ring_with_masked_json(tmp_path: Path) -> None:
    import io

    import structlog

    from arduino_trader.daemon.logging_setup import configure_logging

    root = logging.getLogger()
    saved = list(root.handlers)
    try:
        configure_logging("info", lambda: ["s3cr3t-value"], stream=io.StringIO())
        log_buffer.BUFFER.clear()
        structlog.get_logger(component="t").error("order_outcome_unknown",
                                                  detail="key s3cr3t-value")
        lines = log_buffer.BUFFER.tail(5)
        assert [(line.level, line.event) for line in lines] == [
            ("error", "order_outcome_unknown")]
        assert "s3cr3t-value" not in lines[0].text and "***" in lines[0].text
    finally:
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in saved:
            root.addHandler(handler)
        structlog.reset_defaults()


@pytest.mark.parametrize(("day", "months", "expected"), [
    (date(2026, 3, 31), 1, date(2026, 2, 28)),
    (date(2024, 3, 31), 1, date(2024, 2, 29)),
    (date(2026, 1, 15), 1, date(2025, 12, 15)),
    (date(2026, 5, 31), 3, date(2026, 2, 28)),
    (date(2026, 11, 24), 12, date(2025, 11, 24)),
    (date(2026, 11, 24), 120, date(2016, 11, 24)),
])
def test_chart_ranges_are_calendar_months(day: date, months: int, expected: date) -> None:
    assert months_before(day, months) == expected
