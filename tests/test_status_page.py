"""The dashboard at ``GET /`` in a real headless Chromium (Debian's ``chromium`` and
``chromium-driver``, driven by Selenium) against a daemon on 127.0.0.1: its figures equal
the API's, a plan published on the bus reaches the page through the event stream without a
reload, the return since inception (time- and money-weighted) and the allocation panel
show the API's numbers, the kill switch acts only with the token, and the console logs no
error."""

from __future__ import annotations

import re
import shutil
import urllib.request
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from daemon_harness import Client, ProbeDaemon, start_daemon, wait_for

from arduino_trader.daemon.demo_timing import dated
from arduino_trader.protocols.planning import PlanReady

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
try:
    from selenium import webdriver
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait
except ImportError:  # pragma: no cover - the test extra installs it
    webdriver = None  # type: ignore[assignment]

NO_BROWSER = (CHROMIUM is None or DRIVER is None or webdriver is None)
SKIP_REASON = ("needs Debian's chromium and chromium-driver and the selenium package "
               "(.ci/run and the test extra install them)")


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[ProbeDaemon]:
    d = start_daemon(tmp_path / "state", env={
        "ARDUINO_TRADER_TRADERNET_API_KEY": "page-test-key",
        "ARDUINO_TRADER_TRADERNET_API_SECRET": "page-test-secret"})
    yield d
    d.gate.set()
    d.stop()


def make_driver(width: int = 1400, height: int = 1000) -> Any:
    """Headless system Chromium with the browser console captured."""
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                f"--window-size={width},{height}"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(executable_path=str(DRIVER)), options=options)


@pytest.fixture
def browser() -> Iterator[Any]:
    driver = make_driver()
    yield driver
    driver.quit()


def test_page_is_self_contained(daemon: ProbeDaemon) -> None:
    with urllib.request.urlopen(f"http://127.0.0.1:{daemon.port}/", timeout=10) as r:
        assert r.headers["Content-Type"].startswith("text/html")
        html = r.read().decode()
    assert not re.search(r'(src|href)="(https?:)?//', html)  # no external assets
    assert "setInterval" not in html and 'EventSource("/api/events/stream")' in html


def _eur(value: Any) -> str:
    return f"{Decimal(str(value)):,.2f}"


def _console_errors(driver: Any) -> list[str]:
    return [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def _body(driver: Any, attribute: str) -> str:
    return str(driver.find_element(By.TAG_NAME, "body").get_attribute(attribute))


def _text(driver: Any, element_id: str) -> str:
    return str(driver.find_element(By.ID, element_id).text)


def _pct(value: Any) -> str:
    """The page's percentage: (x · 100).toFixed(2) + " %"."""
    return f"{float(value) * 100:.2f} %"


def _returns(api: Client) -> tuple[str, str]:
    _, body = api.call("GET", "/api/portfolio/returns")
    return tuple(_pct(body[k]["since_inception"]) if body[k]["status"] == "ok" else "–"
                 for k in ("time_weighted", "money_weighted"))  # type: ignore[return-value]


def _allocation_cells(driver: Any) -> dict[str, list[tuple[str, ...]]]:
    cells = driver.execute_script(
        "const out = {}; for (const k of ['country', 'industry', 'bucket']) out[k] = "
        "[...document.querySelectorAll(`#alloc-${k} tbody tr`)].map((tr) => "
        "[...tr.cells].slice(0, 4).map((c) => c.textContent)); return out;")
    return {k: [tuple(r) for r in rows] for k, rows in cells.items()}


def _history(daemon: ProbeDaemon, api: Client) -> None:
    """History for the header and the panels: 2,000 EUR paid into the paper account 300
    days ago (besides today's opening cash), two earlier daily snapshots, and a country
    group with a target."""
    now = daemon.clock.now()
    paper = daemon._broker_pair()[1]
    # The paper account opens (and books its opening cash) on first use: today, before the
    # back-dated deposit, or its opening cash would be dated 300 days ago too.
    daemon.io.run(paper.probe(), 10)
    with dated(paper, now - timedelta(days=300)):
        daemon.io.run(paper.deposit("EUR", Decimal("2000")), 10)
    # A scheduled run of either job may be under way (409): ours follows it.
    wait_for(lambda: api.call("POST", "/api/cash-flows/sync")[0] == 200, 60,
             "a cash-flow sync of our own")
    wait_for(lambda: api.call("POST", "/api/system/jobs/sync_cycle")[0] == 202, 60,
             "a sync cycle of our own")
    wait_for(lambda: api.call("GET", "/api/portfolio/returns")[1]["value_eur"] == "12000",
             60, "the deposit in the synced value")
    ts = int(now.timestamp())
    for days, total in ((2, "1900"), (1, "2000")):
        daemon.store.execute(
            "INSERT INTO portfolio_snapshots (date, total_value, cash_balance, "
            "invested_value, unrealized_pnl, updated_at) VALUES (?, ?, ?, '0', '0', ?)",
            ((now.date() - timedelta(days=days)).isoformat(), total, total, ts))

    def flows_in_snapshot() -> bool:
        """Today's snapshot counts the opening cash and the deposit as flows once the
        cash-flow sync has booked them before a sync cycle: until then, another cycle."""
        if _returns(api)[0] == "5.26 %":
            return True
        api.call("POST", "/api/system/jobs/sync_cycle")  # 409 while one runs: next poll
        return False

    wait_for(flows_in_snapshot, 90, "today's opening cash counted as a flow, not a gain")
    assert api.call("PUT", "/api/allocation/groups/country",
                    {"group_name": "NA", "country_names": ["United States"]})[0] == 200
    assert api.call("PUT", "/api/allocation/groups/targets/country",
                    {"targets": {"NA": 0.6}})[0] == 200


@pytest.mark.skipif(NO_BROWSER, reason=SKIP_REASON)
def test_dashboard_in_chromium(daemon: ProbeDaemon, browser: Any) -> None:
    api = Client(daemon)
    code, _ = api.call("POST", "/api/settings/trading-mode",
                       {"mode": "live", "confirm": "ENABLE LIVE TRADING"})
    assert code == 200
    _history(daemon, api)
    browser.get(f"{api.base}/")
    wait = WebDriverWait(browser, 60)
    try:
        wait.until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-loaded")
                   == "true")
    except TimeoutException:
        raise AssertionError(f"the page never loaded; console: {browser.get_log('browser')}"
                             ) from None

    # The figures are the API's.
    _, status = api.call("GET", "/api/system/status")
    _, portfolio = api.call("GET", "/api/portfolio")
    assert _text(browser, "mode") == status["trading_mode"] == "live"
    # Health may change meanwhile (start-up jobs); the page follows it through the stream.
    wait.until(lambda d: _text(d, "health") == api.call("GET", "/api/system/status")[1]["status"])
    expected_value = "–" if portfolio["total_value_eur"] is None else _eur(
        portfolio["total_value_eur"])
    assert _text(browser, "value") == expected_value
    # Return since inception, both ways, and the allocation panel: the API's numbers.
    wait.until(lambda d: (_text(d, "twr"), _text(d, "mwr")) == _returns(api))
    # both computed from the history laid above: the snapshots gained 2000/1900 − 1
    # (today's opening cash is a flow, not a gain); the cash itself never grew
    assert _returns(api) == ("5.26 %", "0.00 %")
    _, allocation = api.call("GET", "/api/allocation/overview")
    wait.until(lambda d: _allocation_cells(d) == {
        kind: [(r["name"], _pct(r["target_pct"]), _pct(r["current_pct"]),
                _pct(r["deviation"])) for r in allocation[kind]]
        for kind in ("country", "industry", "bucket")})
    assert any(r["name"] == "NA" and _pct(r["target_pct"]) == "60.00 %"
               for r in allocation["country"])
    rows = browser.execute_script("return document.querySelectorAll('#positions tbody tr').length")
    assert rows == len(portfolio["positions"])
    browser.find_element(By.CSS_SELECTOR, "button[data-days='31']").click()  # chart range
    jobs = browser.execute_script(
        "return [...document.querySelectorAll('#jobs button[data-job]')].map(b => b.dataset.job)")
    assert set(jobs) == {j["name"] for j in status["jobs"]}

    # A plan published by the planner reaches the page through the stream, no reload.
    browser.execute_script("window.__noReload = 1;")
    wait.until(lambda d: _text(d, "live") == "live")
    before = int(_body(browser, "data-plan-renders"))
    daemon.bus.publish(PlanReady("0" * 16, "nothing_to_do", "page test", (), 424242,
                                 daemon.clock.now()))
    _, plan = api.call("GET", "/api/trades/recommendations")
    wait.until(lambda d: int(_body(d, "data-plan-renders")) > before)
    assert _body(browser, "data-plan-id") == (
        "" if plan.get("plan_id") is None else str(plan["plan_id"]))
    assert browser.execute_script("return window.__noReload") == 1

    # The kill switch: without a token nothing happens, with it trading stops.
    browser.find_element(By.ID, "kill").click()
    browser.switch_to.alert.accept()
    wait.until(lambda d: "enter the API token" in _text(d, "action-result"))
    assert api.call("GET", "/api/settings/trading-mode")[1]["trading_mode"] == "live"
    browser.find_element(By.ID, "token").send_keys(daemon.token)
    browser.find_element(By.ID, "save-token").click()
    browser.find_element(By.ID, "kill").click()
    browser.switch_to.alert.accept()
    wait.until(lambda d: "kill switch: done (200)" in _text(d, "action-result"))
    assert api.call("GET", "/api/settings/trading-mode")[1]["trading_mode"] == "research"
    wait.until(lambda d: _text(d, "mode") == "research")

    assert browser.find_element(By.TAG_NAME, "body").get_attribute("data-errors") == ""
    assert _console_errors(browser) == []
