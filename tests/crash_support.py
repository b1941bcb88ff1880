"""The crash-at-every-step harness: a scripted live scenario against the sandbox, run by a
daemon *process* that a crash point (``adapters/crashpoints.py``) SIGKILLs at step k.

``python tests/crash_support.py --data-dir D --clock F`` runs the real daemon on a frozen
clock read from file F (the harness moves it); everything else is the normal ``run``
command. :class:`CrashHarness` counts the points of a clean run, then for a point k runs
the scenario with the crash armed, restarts the daemon without it where the scenario died,
finishes it, and checks the invariants (:func:`check_invariants`).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from types import FrameType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(ROOT))

from reliability_support import clocked_sandbox, session_moment  # noqa: E402

from arduino_trader.adapters import crashpoints  # noqa: E402
from arduino_trader.adapters.sandbox.server import (  # noqa: E402
    DEMO_PRIVATE_KEY,
    DEMO_PUBLIC_KEY,
    Fault,
    Sandbox,
    SandboxThread,
)
from arduino_trader.adapters.store.price_history_repo import SqlitePriceHistory  # noqa: E402

# Instruments the scenario trades (all on XNAS, so one session covers every order).
SECURITIES = (("US0378331005", "AAPL.US", "USD", "XNAS", 190.0),
              ("US5949181045", "MSFT.US", "USD", "XNAS", 410.0))
# The manual orders of the scenario: (request id, isin, side, quantity). Quantities >= 2
# fill in two parts at the sandbox (partial fill, then the rest).
MANUAL_ORDERS = (("crash-buy-msft", "US5949181045", "BUY", 3),
                 ("crash-sell-aapl", "US0378331005", "SELL", 4),
                 ("crash-slow-buy-aapl", "US0378331005", "BUY", 1))
# The last manual order meets a slow broker: the sandbox answers its putTradeOrder (and
# books it) only after SLOW_BROKER_S, past the client's timeout (ORDER_TIMEOUT_S) and its
# three lookups (+LOOKUP_DELAY_S, +2x, +3x), with as much slack again as those take, so
# the placement's outcome is unknown when the API answers. It must end placed once and
# filled, never "not placed" and sent again. (Short delays: every run of the matrix waits
# for this answer.)
ORDER_TIMEOUT_S = 1
LOOKUP_DELAY_S = 0.5
SLOW_BROKER_S = 2 * (ORDER_TIMEOUT_S + 6 * LOOKUP_DELAY_S)
JOB_TIMEOUT_S = 120.0
DB_FILE = "arduino-trader.db"
TERMINAL = ("filled", "cancelled", "rejected", "expired", "not_placed")


# ------------------------------------------------------------------------ clocks
class FileClock:
    """A frozen clock whose moment (unix seconds) is read from a file on every call, so
    the harness moves the daemon process's time; ``monotonic`` is real."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def now(self) -> datetime:
        """The moment in the file."""
        return datetime.fromtimestamp(float(self.path.read_text().strip()), UTC)

    def monotonic(self) -> float:
        """Real monotonic seconds (timeouts still run)."""
        return time.monotonic()

    def set(self, moment: datetime) -> None:
        """Write a new moment (atomically)."""
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(repr(moment.timestamp()))
        os.replace(tmp, self.path)

    def advance(self, seconds: float) -> None:
        """Move forward."""
        self.set(self.now() + timedelta(seconds=seconds))


# ------------------------------------------------------------ the daemon process
def free_port() -> int:
    """A free loopback TCP port."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def daemon_env(url: str, port: int) -> dict[str, str]:
    """Settings of the scenario daemon (live broker = the sandbox, fast limits)."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("ARDUINO_TRADER_") and k not in (crashpoints.CRASH_AT_ENV,
                                                                 crashpoints.CRASH_LOG_ENV)}
    env.setdefault("NUMBA_CACHE_DIR", str(Path(tempfile.gettempdir()) / "arduino-trader-numba"))
    env.update({
        "ARDUINO_TRADER_API__PORT": str(port),
        "ARDUINO_TRADER_BROKER__KIND": "tradernet",
        "ARDUINO_TRADER_BROKER__BASE_URL": url,
        "ARDUINO_TRADER_TRADERNET_API_KEY": DEMO_PUBLIC_KEY,
        "ARDUINO_TRADER_TRADERNET_API_SECRET": DEMO_PRIVATE_KEY,
        "ARDUINO_TRADER_BROKER__REQUESTS_PER_MINUTE": "600",
        "ARDUINO_TRADER_BROKER__BURST": "50",
        "ARDUINO_TRADER_BROKER__TIMEOUT_S": "5",
        "ARDUINO_TRADER_BROKER__ORDER_TIMEOUT_S": str(ORDER_TIMEOUT_S),
        "ARDUINO_TRADER_BROKER__ORDER_LOOKUP_DELAY_S": str(LOOKUP_DELAY_S),
        "ARDUINO_TRADER_TRADE_FREQUENCY_LIMITS_ENABLED": "false",
        # The scenario buys AAPL right after selling some: no rebuy cooldown here.
        "ARDUINO_TRADER_REBUY_COOLDOWN_DAYS": "0",
        "ARDUINO_TRADER_PLANNER_DEBOUNCE_SECONDS": "3600",
        "ARDUINO_TRADER_LOG__LEVEL": "warning",
    })
    return env


class DaemonProc:
    """One daemon process (this module run as a script) and a JSON client for its API."""

    def __init__(self, data_dir: Path, clock_file: Path, env: dict[str, str],
                 log: Path) -> None:
        self.data_dir = data_dir
        self.base = f"http://127.0.0.1:{env['ARDUINO_TRADER_API__PORT']}"
        self.token = ""
        self.log = log
        with log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, str(Path(__file__).resolve()), "--data-dir", str(data_dir),
                 "--clock", str(clock_file)],
                env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)

    def alive(self) -> bool:
        """The process still runs."""
        return self.proc.poll() is None

    def wait_ready(self, timeout: float = 60.0) -> bool:
        """Wait for the API; False if the process died first (a crash point at start)."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if not self.alive():
                return False
            try:
                if self.call("GET", "/health", timeout=2)[0] in (200, 503):
                    self.token = (self.data_dir / "api-token").read_text().strip()
                    return True
            except OSError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"the daemon did not answer within {timeout} s")

    def call(self, method: str, path: str, body: Any = None,
             timeout: float = 60.0) -> tuple[int, Any]:
        """One API call; OSError when the process is gone."""
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method)
        req.add_header("Content-Type", "application/json")
        if self.token:
            req.add_header("Authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                return resp.status, json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as exc:
            text = exc.read()
            try:
                return exc.code, json.loads(text or b"null")
            except ValueError:
                return exc.code, text.decode(errors="replace")

    def check_killed(self) -> None:
        """AssertionError (with the log's tail) unless a crash point's SIGKILL ended it."""
        code = self.proc.wait(10)
        if code != -signal.SIGKILL:
            tail = self.log.read_text(errors="replace")[-3000:]
            raise AssertionError(f"the daemon exited with {code}, not by a crash point:\n"
                                 f"{tail}")

    def stop(self) -> None:
        """SIGTERM (then SIGKILL after 20 s)."""
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


class Died(Exception):
    """The daemon process died during a step (the crash point fired)."""


# ------------------------------------------------------------------- scenario
@dataclass
class World:
    """What the scenario steps act on: the sandbox, the clock and the current daemon."""

    sandbox: SandboxThread
    clock: FileClock
    daemon: DaemonProc | None = None
    done_once: set[str] = field(default_factory=set)
    slow_since: float = 0.0  # when the slow-broker fault was queued (monotonic)
    slow_fault: Fault | None = None

    @property
    def proc(self) -> DaemonProc:
        assert self.daemon is not None
        return self.daemon

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        """An API call that turns a dead daemon into :class:`Died`."""
        try:
            return self.proc.call(method, path, body)
        except OSError as exc:
            if self._dies():
                self.proc.check_killed()
                raise Died(path) from None
            raise AssertionError(f"{method} {path}: {exc}") from exc

    def _dies(self, grace: float = 3.0) -> bool:
        end = time.monotonic() + grace
        while time.monotonic() < end:
            if not self.proc.alive():
                return True
            time.sleep(0.05)
        return False

    def run_job(self, name: str) -> dict[str, Any]:
        """Trigger ``name`` and wait until it finished; its job state."""
        end = time.monotonic() + JOB_TIMEOUT_S
        while True:
            status, before = self.call("GET", f"/api/system/jobs/{name}")
            assert status == 200, (name, before)
            if before["status"] == "idle":
                # a job that may send orders needs the confirmation; others ignore it
                status, body = self.call("POST", f"/api/system/jobs/{name}",
                                         {"confirm": "EXECUTE"})
                if status == 202:
                    break
                assert status == 409, (name, status, body)
            if time.monotonic() > end:
                raise AssertionError(f"{name} never became idle")
            time.sleep(0.05)
        while time.monotonic() < end:
            status, state = self.call("GET", f"/api/system/jobs/{name}")
            if state["status"] == "idle" and state["runs"] > before["runs"]:
                return dict(state)
            if not self.proc.alive():
                self.proc.check_killed()
                raise Died(name)
            time.sleep(0.05)
        raise AssertionError(f"{name} did not finish within {JOB_TIMEOUT_S} s")

    def once(self, key: str, action: Callable[[], None]) -> None:
        """A sandbox-side event of the scenario, done exactly once whatever crashes."""
        if key not in self.done_once:
            action()
            self.done_once.add(key)


def _order(world: World, request_id: str, isin: str, side: str, qty: int) -> None:
    status, body = world.call("POST", "/api/trades/execute", {
        "symbol": isin, "side": side, "quantity": qty, "confirm": "EXECUTE",
        "request_id": request_id})
    assert status < 500 or status == 502, (request_id, status, body)


def _fee_into_negative(world: World) -> None:
    """A custody fee larger than the USD cash: the balance turns negative."""
    sandbox = world.sandbox.sandbox
    usd = sandbox.account.cash("USD")
    sandbox.account.deposit("USD", -(usd + Decimal("25")), sandbox.now(), type_code="fee",
                            comment="Sandbox custody fee")


def _slow_broker(world: World) -> None:
    """From now on the sandbox answers the next putTradeOrder after SLOW_BROKER_S."""
    def inject() -> None:
        world.slow_fault = world.sandbox.sandbox.inject("latency", command="putTradeOrder",
                                                        times=1, delay_s=SLOW_BROKER_S)
        world.slow_since = time.monotonic()
    world.once("slow broker", inject)


def _slow_answer_arrives(world: World) -> None:
    """Wait until the sandbox has answered the placement that took the slow fault (and
    booked it), SLOW_BROKER_S after it reached the sandbox, whenever that was (a daemon
    restarted before sending it sends it late, or a later placement meets the fault).
    While no placement took the fault, the scenario goes on once its delay is over."""
    fault = world.slow_fault
    if fault is None:
        return
    while fault.answered_at is None:
        now = time.monotonic()
        if fault.taken_at is None:
            if now > world.slow_since + SLOW_BROKER_S + 1:
                return
        elif now > fault.taken_at + SLOW_BROKER_S + JOB_TIMEOUT_S:
            raise AssertionError("the sandbox never answered the slow placement")
        time.sleep(0.1)


def _deposits(world: World) -> None:
    sandbox = world.sandbox.sandbox
    sandbox.account.deposit("EUR", Decimal("2000"), sandbox.now())
    sandbox.account.deposit("HKD", Decimal("100"), sandbox.now())


def _initialize_buckets(world: World) -> None:
    """Take the broker cash without deposit records (USD, HKD) into core, once."""
    for _ in range(5):
        status, body = world.call("POST", "/api/satellites/reconcile/initialize", {})
        if status == 200:
            return
        assert status == 409, body  # refused while anything is pending: settle, retry
        world.run_job("cash_flow_sync")
        world.run_job("order_follow_up")
    raise AssertionError(f"the bucket ledger could not be initialised: {body}")


def _retry_not_placed(world: World) -> None:
    """The user's answer to a ``not_placed`` manual order: send it again under a new
    request id (the journal keeps the old intent as not placed)."""
    for request_id, isin, side, qty in MANUAL_ORDERS:
        states = [r["state"] for r in _journal_rows(world.proc.data_dir, request_id)]
        if states and all(s == "not_placed" for s in states):
            _order(world, f"{request_id}-retry{len(states)}", isin, side, qty)


SETTLE_FOLLOW_UPS = 6


def _orders_settle(world: World) -> None:
    """The order follow-up as the daemon runs it, every minute, until no journal entry is
    open and no deferred buy waits (a buy deferred behind its funding exchange is placed
    by one follow-up and filled by the next ones); at least twice, at most
    SETTLE_FOLLOW_UPS times (what is still open then is reported by the checks)."""
    for n in range(SETTLE_FOLLOW_UPS):
        world.run_job("order_follow_up")
        open_entries = _rows(world.proc.data_dir, "SELECT 1 FROM orders WHERE state NOT IN "
                             f"({', '.join('?' * len(TERMINAL))})", TERMINAL)
        waiting = _rows(world.proc.data_dir,
                        "SELECT 1 FROM deferred_buys WHERE state = 'waiting'")
        if n >= 1 and not open_entries and not waiting:
            return


Step = tuple[str, Callable[[World], None]]


def _manual(request_id: str, isin: str, side: str, qty: int) -> Callable[[World], None]:
    def step(world: World) -> None:
        _order(world, request_id, isin, side, qty)
    return step


def _job(name: str) -> Callable[[World], None]:
    def step(world: World) -> None:
        world.run_job(name)
    return step


def scenario() -> list[Step]:
    """The scripted day: bucket ledger initialised from the broker → deposits → a plan →
    orders with partial fills → an order placed at a slow broker (outcome unknown, then
    found and filled) → a dividend → a fee drives USD negative → emergency repair →
    settle (the not-placed grace passes, follow-ups, syncs, not-placed orders sent again)."""
    sb: Callable[[World], Any] = lambda w: w.sandbox.sandbox  # noqa: E731
    steps: list[Step] = [
        ("cash_flow_sync", _job("cash_flow_sync")),
        ("initialize buckets", _initialize_buckets),
        ("deposit", lambda w: w.once("deposit", lambda: _deposits(w))),
        ("cash_flow_sync", _job("cash_flow_sync")),
        ("sync_cycle", _job("sync_cycle")),
        ("planner", _job("planner")),
    ]
    steps += [(f"order {order[0]}", _manual(*order)) for order in MANUAL_ORDERS[:-1]]
    steps += [
        ("autonomous_execution", _job("autonomous_execution")),
        ("order_follow_up", _job("order_follow_up")),
        ("order_follow_up", _job("order_follow_up")),
        ("not-placed grace passes", lambda w: w.clock.advance(6 * 60)),
        ("order_follow_up", _job("order_follow_up")),
        ("retry not placed", _retry_not_placed),
        ("order_follow_up", _job("order_follow_up")),
        ("order_follow_up", _job("order_follow_up")),
        ("slow broker", _slow_broker),
        (f"order {MANUAL_ORDERS[-1][0]}", _manual(*MANUAL_ORDERS[-1])),
        ("the slow answer arrives", _slow_answer_arrives),
        ("order_follow_up", _job("order_follow_up")),
        ("dividend", lambda w: w.once("dividend", lambda: sb(w).account.book_dividend(
            "AAPL.US", Decimal("12.34"), "USD", sb(w).now()))),
        ("cash_flow_sync", _job("cash_flow_sync")),
        ("negative balance", lambda w: w.once("fee", lambda: _fee_into_negative(w))),
        ("sync_cycle", _job("sync_cycle")),
        ("cash_flow_sync", _job("cash_flow_sync")),
        ("emergency_rebalance", _job("emergency_rebalance")),
        ("order_follow_up", _job("order_follow_up")),
        ("settle: grace passes", lambda w: w.clock.advance(6 * 60)),
        ("order_follow_up", _job("order_follow_up")),
        ("order_follow_up", _job("order_follow_up")),
        ("retry not placed", _retry_not_placed),
        ("a retry that met the slow broker is answered", _slow_answer_arrives),
        ("orders settle", _orders_settle),
        ("sync_cycle", _job("sync_cycle")),
        ("cash_flow_sync", _job("cash_flow_sync")),
    ]
    return steps


# ---------------------------------------------------------------- store reads
def _connect(data_dir: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(f"file:{data_dir / DB_FILE}?mode=ro", uri=True, timeout=10)
    conn.row_factory = sqlite3.Row
    return conn


def _rows(data_dir: Path, sql: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
    with _connect(data_dir) as conn:
        return [dict(r) for r in conn.execute(sql, params)]


def _journal_rows(data_dir: Path, request_id: str) -> list[dict[str, Any]]:
    """The entries of a manual order and its retries (not the exchanges funding them)."""
    rows = _rows(data_dir, "SELECT client_order_id, state, intent_key FROM orders "
                 "WHERE intent_key = ? OR intent_key LIKE ? ORDER BY id",
                 (f"manual|{request_id}", f"manual|{request_id}-retry%"))
    return [r for r in rows if not _funding(r["intent_key"])]


def _funding(intent_key: str) -> bool:
    """A buy's funding exchange (its key extends the buy's with ``|fx-fund:<n>``)."""
    return "|fx-fund:" in intent_key


def seed_store(data_dir: Path, moment: datetime) -> None:
    """The universe, a year of flat history and FX rates, before the first start."""
    from arduino_trader.adapters.store import market_repo, securities_repo
    from arduino_trader.adapters.store.sqlite import SqliteStore
    from arduino_trader.protocols.market_data import FxRate, PriceBar

    store = SqliteStore(data_dir / DB_FILE)
    was = crashpoints.current()
    crashpoints.arm(None)
    try:
        store.open()
        start = moment.date() - timedelta(days=300)
        for isin, symbol, currency, mic, price in SECURITIES:
            securities_repo.insert_security(store, {
                "isin": isin, "symbol": symbol, "name": symbol, "currency": currency,
                "mic": mic, "source": "test"}, moment)
            bars = [PriceBar(start + timedelta(days=i), price * (1 + 0.001 * (i % 7)),
                             high=price * 1.5) for i in range(299)]
            SqlitePriceHistory(store).write_history({isin: (bars, [])}, "test", moment)
        market_repo.write_fx(store, [
            FxRate("USD", Decimal("0.92"), moment.date(), moment, "test"),
            FxRate("HKD", Decimal("0.118"), moment.date(), moment, "test")], moment)
    finally:
        crashpoints.arm(was)
        store.close()


# ----------------------------------------------------------------- invariants
@dataclass
class Verdict:
    """The end-state checks: failed invariants, and the known, named gaps between the
    bucket ledger and the broker's cash (see docs/areas/reliability.md)."""

    problems: list[str] = field(default_factory=list)
    known_gaps: dict[str, Decimal] = field(default_factory=dict)  # "<what> <CCY>" → amount
    notes: list[str] = field(default_factory=list)  # observations that are no invariant

    def gap(self, what: str, currency: str, amount: Decimal) -> None:
        """Broker cash moved by ``amount`` that the buckets do not hold (by design)."""
        key = f"{what} {currency}"
        self.known_gaps[key] = self.known_gaps.get(key, Decimal(0)) + amount

    def unbooked(self, currency: str) -> Decimal:
        """Every known gap in ``currency``."""
        return sum((v for k, v in self.known_gaps.items() if k.endswith(f" {currency}")),
                   Decimal(0))


def _table_exists(conn: sqlite3.Connection, name: str) -> bool:
    return conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?",
                        (name,)).fetchone() is not None


def check_invariants(data_dir: Path, sandbox: Sandbox) -> Verdict:
    """Check the settled end state against the sandbox's books."""
    verdict = Verdict()
    problems = verdict.problems
    state = sandbox.account.state
    with _connect(data_dir) as conn:
        integrity = conn.execute("PRAGMA integrity_check").fetchone()[0]
        if integrity != "ok":
            problems.append(f"integrity_check: {integrity}")
        journal = [dict(r) for r in conn.execute(
            "SELECT client_order_id, intent_key, state FROM orders WHERE mode = 'live'")]
        sources = {r[0]: r[1] for r in conn.execute(
            "SELECT trade_key, source FROM trades WHERE mode = 'live'")}
        trade_keys = list(sources)
        fx = {r["trade_key"]: dict(r) for r in conn.execute(
            "SELECT * FROM fx_trades WHERE mode = 'live'")} \
            if _table_exists(conn, "fx_trades") else {}
        fx_keys = list(fx)
        flow_ids = [r[0] for r in conn.execute("SELECT transaction_id FROM cash_flows")]
        balances = {(r["bucket_id"], r["currency"]): Decimal(r["balance"])
                    for r in conn.execute("SELECT * FROM bucket_balances")}
        settled: dict[str, list[tuple[str, Decimal, bool]]] = {}
        ledger: dict[tuple[str, str], Decimal] = {}
        for r in conn.execute("SELECT bucket_id, currency, amount, source_kind, source_id "
                              "FROM bucket_transactions"):
            key = (r["bucket_id"], r["currency"])
            ledger[key] = ledger.get(key, Decimal(0)) + Decimal(r["amount"])
            if r["source_kind"] == "trade":  # "<mode>:<trade id>[:fee]": one fill's rows
                parts = str(r["source_id"]).split(":")
                settled.setdefault(":".join(parts[:2]), []).append(
                    (r["currency"], Decimal(r["amount"]), parts[2:] == ["fee"]))
    _check_orders(journal, state, problems)
    _check_records(trade_keys, fx_keys, flow_ids, state, problems)
    for key in sorted(set(balances) | set(ledger)):
        if balances.get(key, Decimal(0)) != ledger.get(key, Decimal(0)):
            problems.append(f"bucket {key}: balance {balances.get(key)} != ledger "
                            f"{ledger.get(key)}")
    _check_settlements(state, settled, fx, sources, verdict)
    totals: dict[str, Decimal] = {}
    for (_, currency), amount in balances.items():
        totals[currency] = totals.get(currency, Decimal(0)) + amount
    for currency in sorted(set(totals) | set(state["cash"])):
        broker = sandbox.account.cash(currency)
        if broker < 0:  # an interrupted repair is closed at restart and run again
            problems.append(f"{currency} still negative at the broker ({broker}) after "
                            "the emergency repair and settling")
        held = totals.get(currency, Decimal(0)) + verdict.unbooked(currency)
        if held != broker:
            problems.append(f"buckets hold {totals.get(currency)} {currency} (+ "
                            f"{verdict.unbooked(currency)} known gaps), the broker {broker}")
    return verdict


def _check_orders(journal: list[dict[str, Any]], state: dict[str, Any],
                  problems: list[str]) -> None:
    """Each client id at most once at the broker, each broker order journaled, each
    journal entry final and consistent with the broker, each intended order once."""
    at_broker: dict[int, int] = {}
    for order in state["orders"]:
        uid = int(order["user_order_id"])
        at_broker[uid] = at_broker.get(uid, 0) + 1
    journal_ids = {int(j["client_order_id"]) for j in journal}
    for uid, n in at_broker.items():
        if n > 1:
            problems.append(f"client id {uid} placed {n} times at the broker")
        if uid not in journal_ids:
            problems.append(f"broker order {uid} has no journal entry")
    for entry in journal:
        n = at_broker.get(int(entry["client_order_id"]), 0)
        if entry["state"] in ("sent", "partially_filled", "filled") and n != 1:
            problems.append(f"{entry['intent_key']} is {entry['state']} but at the broker "
                            f"{n} times")
        if entry["state"] == "not_placed" and n:
            problems.append(f"{entry['intent_key']} is not_placed but exists at the broker")
        if entry["state"] not in TERMINAL:
            problems.append(f"{entry['intent_key']} still {entry['state']} after settling")
    for request_id, *_ in MANUAL_ORDERS:
        mine = [j for j in journal if not _funding(j["intent_key"]) and (
            j["intent_key"] == f"manual|{request_id}"
            or j["intent_key"].startswith(f"manual|{request_id}-retry"))]
        placed = sum(at_broker.get(int(j["client_order_id"]), 0) for j in mine)
        if placed != 1:
            problems.append(f"intended order {request_id} placed {placed} times "
                            f"(journal: {[j['state'] for j in mine]})")


def _check_records(trade_keys: list[str], fx_keys: list[str], flow_ids: list[str],
                   state: dict[str, Any], problems: list[str]) -> None:
    """Every broker fill once in ``trades`` or ``fx_trades``; every broker cash flow
    (commissions are booked with their trade) once in ``cash_flows``."""
    keys = trade_keys + fx_keys
    broker = sorted(f"live:{t['id']}" for t in state["trades"])
    if sorted(keys) != broker:
        problems.append(f"fills differ from the broker's: ledger {sorted(keys)}, broker "
                        f"{broker}")
    if len(flow_ids) != len(set(flow_ids)):
        problems.append("a cash flow is recorded twice")
    for flow in state["cash_flows"]:
        if flow["type_code"] == "commission_for_trades":
            continue
        hits = [i for i in flow_ids if i.split(":")[-1] == str(flow["id"])]
        if len(hits) != 1:
            problems.append(f"broker cash flow {flow['id']} ({flow['type_code']}) recorded "
                            f"{len(hits)} times")


def _check_settlements(state: dict[str, Any],
                       settled: dict[str, list[tuple[str, Decimal, bool]]],
                       fx: dict[str, dict[str, Any]], sources: dict[str, str],
                       verdict: Verdict) -> None:
    """Each broker fill settled once in the buckets by exactly its cash effect at the
    broker (a buy −(value + fee), a sell value − fee; an exchange its two legs and the
    fee). Known gaps, named in the verdict: the commission left out (the executor records
    a fill before its fee is known), and a sub-cent remainder (settlements are at 0.01,
    left to reconciliation). A fill in the ledger that was never settled is a problem: the
    satellites actor settles from the store what a lost ``TradeExecuted`` left out."""
    cent = Decimal("0.01")
    for trade in state["trades"]:
        key = f"live:{trade['id']}"
        value, fee = Decimal(trade["v"]), Decimal(trade["_fee"])
        fee_ccy = str(trade["curr_c"])
        expected: dict[str, Decimal] = {}
        if key in fx:
            row = fx[key]
            expected[row["base_currency"]] = Decimal(row["base_amount"])
            expected[row["quote_currency"]] = \
                expected.get(row["quote_currency"], Decimal(0)) + Decimal(row["quote_amount"])
        else:
            expected[fee_ccy] = -value if int(trade["type"]) == 1 else value
        expected[fee_ccy] = expected.get(fee_ccy, Decimal(0)) - fee
        rows = settled.get(key, [])
        booked: dict[str, Decimal] = {}
        for ccy, amount, _ in rows:
            booked[ccy] = booked.get(ccy, Decimal(0)) + amount
        if key not in sources and key not in fx:
            verdict.problems.append(f"fill {key} is in no ledger")
            continue
        if not any(not is_fee for _, _, is_fee in rows):
            verdict.problems.append(f"fill {key} is in the ledger but never settled in the "
                                    "buckets")
            continue
        for ccy in sorted(set(expected) | set(booked)):
            diff = expected.get(ccy, Decimal(0)) - booked.get(ccy, Decimal(0))
            if ccy == fee_ccy and fee and abs(diff + fee) < cent:
                verdict.gap("commission not netted", ccy, -fee)
                diff += fee
            if abs(diff) >= cent:
                verdict.problems.append(f"fill {key} settled {booked.get(ccy)} {ccy}, its "
                                        f"broker cash effect is {expected.get(ccy)}")
            elif diff:
                verdict.gap("sub-cent remainder", ccy, diff)


# -------------------------------------------------------------------- harness
@dataclass
class RunResult:
    """One scenario run: the points it passed, where it died, what failed."""

    counts: dict[str, int]
    crashed_at: str | None
    problems: list[str]
    known_gaps: dict[str, Decimal]
    seconds: float
    notes: list[str] = field(default_factory=list)
    timings: list[tuple[str, float]] = field(default_factory=list)


class CrashHarness:
    """Runs the scenario in a fresh directory, optionally with a crash point armed."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.moment = session_moment()

    def run(self, target: str | None = None, name: str = "clean") -> RunResult:
        """The whole scenario; with ``target`` the first daemon dies there."""
        started = time.monotonic()
        work = self.base / name
        data_dir, crash_log = work / "state", work / "crash.log"
        data_dir.mkdir(parents=True)
        clock = FileClock(work / "clock")
        clock.set(self.moment)
        seed_store(data_dir, self.moment)
        crashed_at: str | None = None
        timings: list[tuple[str, float]] = []
        with clocked_sandbox(work / "sandbox.json", clock.now) as sandbox:
            account = sandbox.sandbox.account
            with account.lock:  # the opening HKD overdraft has no record to book it by
                account.state["cash"].pop("HKD", None)
                account.save()
            world = World(sandbox, clock)
            port = free_port()
            env = daemon_env(sandbox.url, port)
            first = dict(env, **{crashpoints.CRASH_LOG_ENV: str(crash_log)})
            if target is not None:
                first[crashpoints.CRASH_AT_ENV] = target
            try:
                for label, step in [("live mode", _live), *scenario()]:
                    while True:
                        try:
                            if world.daemon is None:
                                armed, first = first, env  # only the first process
                                world.daemon = self._start(data_dir, clock, armed, work)
                            began = time.monotonic()
                            step(world)
                            timings.append((label, round(time.monotonic() - began, 2)))
                            break
                        except Died:
                            if crashed_at is not None:
                                raise AssertionError("the daemon died twice") from None
                            crashed_at = f"{target} during {label!r}"
                            world.daemon = None
                if target is not None and crashed_at is None:
                    crashed_at = "not reached"
            finally:
                if world.daemon is not None:
                    world.daemon.stop()
            verdict = check_invariants(data_dir, sandbox.sandbox)
        return RunResult(crashpoints.read_log(str(crash_log)), crashed_at, verdict.problems,
                         verdict.known_gaps, time.monotonic() - started, verdict.notes,
                         timings)

    def _start(self, data_dir: Path, clock: FileClock, env: dict[str, str],
               work: Path) -> DaemonProc | None:
        proc = DaemonProc(data_dir, clock.path, env, work / "daemon.log")
        if not proc.wait_ready():
            proc.check_killed()
            raise Died("start-up")
        return proc


def _live(world: World) -> None:
    status, body = world.call("POST", "/api/settings/trading-mode",
                              {"mode": "live", "confirm": "ENABLE LIVE TRADING"})
    assert status == 200, body


def points(counts: dict[str, int]) -> list[str]:
    """Every crash target of a clean run's counts."""
    return [f"{kind}:{n}" for kind in crashpoints.KINDS for n in range(1, counts[kind] + 1)]


# The steps where a crash hurts most: around the order journal, the placement, the fill
# booking, a cash-flow record and a bucket settlement (named by detail, so they hit the
# same step whatever the background jobs did before).
# The slow broker's points: before the slow placement is sent (the slow answer then
# meets a later placement), and while its answer is lost (after the second lookup by
# client id, the order still in flight at the sandbox).
SLOW_BROKER = ("broker_before@putTradeOrder:3", "broker_after@getNotifyOrderJson:9")
CRITICAL = ("commit@order_journal.journal_order:1", "broker_before@putTradeOrder:1",
            "broker_after@putTradeOrder:1", "broker_after@getNotifyOrderJson:1",
            "commit@order_journal.apply_follow_up:1", "commit@cash_flow_repo.store_record:2",
            "commit@satellites_repo.apply_operation:2", "broker_after@getTradesHistory:2",
            *SLOW_BROKER)


def sample(all_points: list[str], k: int, seed: int) -> list[str]:
    """``k`` points drawn with a fixed seed (sorted, reproducible)."""
    import random

    rng = random.Random(seed)
    return sorted(rng.sample(all_points, min(k, len(all_points))),
                  key=all_points.index)


# ------------------------------------------------------------- process entry
def main(argv: list[str] | None = None) -> int:
    """Run the daemon on the file clock until SIGTERM (the harness's daemon process)."""
    from arduino_trader.config.settings import load_settings
    from arduino_trader.daemon.cli import _exit_if_threads_linger
    from arduino_trader.daemon.service import DaemonOptions, TraderDaemon

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--clock", type=Path, required=True)
    args = parser.parse_args(argv)
    daemon = TraderDaemon(DaemonOptions(settings=load_settings(None), data_dir=args.data_dir,
                                        clock=FileClock(args.clock)))
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    daemon.start()
    try:
        daemon.wait(stop)
    finally:
        daemon.stop()
    _exit_if_threads_linger()
    return 0


if __name__ == "__main__":
    sys.exit(main())


__all__ = ["CrashHarness", "RunResult", "Verdict", "check_invariants", "points",
           "session_moment"]
