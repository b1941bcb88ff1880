"""A fake Yahoo on 127.0.0.1 and the production session type (curl_cffi) pointed at it.

The server answers from the recorded-format files in ``tests/fixtures/yahoo`` with the
status codes Yahoo uses: 404 with a JSON error for an unknown symbol, 200 with meta and
no bars for an empty range; a test can queue other answers (429, 5xx with an HTML or a
JSON body) per path. The session rewrites ``https://<yahoo host>/<path>`` into
``http://127.0.0.1:<port>/<yahoo host>/<path>``; everything else (curl, cookies,
exceptions, yfinance's own retry of a 4xx/5xx) is the real thing.
"""

from __future__ import annotations

import json
import threading
from collections import defaultdict, deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from arduino_trader.adapters.market_data.yahoo_session import Answer, YahooSession

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "yahoo"
YAHOO_HOSTS = {"query1.finance.yahoo.com", "query2.finance.yahoo.com", "fc.yahoo.com",
               "guce.yahoo.com", "consent.yahoo.com", "finance.yahoo.com"}
JSON = "application/json;charset=utf-8"
HTML = "text/html; charset=utf-8"
OUTAGE_HTML = (b"<!DOCTYPE html><html><head><title>Yahoo</title></head><body>"
               b"<p>Sorry, the page you requested is unavailable.</p></body></html>")
SERVER_ERROR_JSON = json.dumps({"finance": {"result": None, "error": {
    "code": "Internal Server Error", "description": "Internal Server Error"}}}).encode()
INVALID_CRUMB = json.dumps({"finance": {"result": None, "error": {
    "code": "Unauthorized", "description": "Invalid Crumb"}}}).encode()
NOT_FOUND_CHART = json.dumps({"chart": {"result": None, "error": {
    "code": "Not Found", "description": "No data found, symbol may be delisted"}}}).encode()


def fixture(name: str) -> bytes:
    """A fixture file's bytes."""
    return (FIXTURES / name).read_bytes()


@dataclass(frozen=True)
class Reply:
    """One scripted answer."""

    status: int
    body: bytes
    content_type: str = JSON


@dataclass
class FakeYahoo:
    """What the fake server answers, and what it was asked."""

    charts: dict[str, bytes] = field(default_factory=dict)
    histories: dict[str, bytes] = field(default_factory=dict)
    summaries: dict[str, bytes] = field(default_factory=dict)
    quotes: dict[str, bytes] = field(default_factory=dict)
    timeseries: dict[str, bytes] = field(default_factory=dict)
    searches: dict[str, bytes] = field(default_factory=dict)
    screener: bytes | None = None  # the equity screener's answer (POST)
    posted: list[bytes] = field(default_factory=list)  # request bodies of POSTs
    queued: dict[str, deque[Reply]] = field(default_factory=lambda: defaultdict(deque))
    always: dict[str, Reply] = field(default_factory=dict)
    requests: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)

    @classmethod
    def default(cls) -> FakeYahoo:
        """Apple (USD), Unilever in London (GBp), EUR/USD and Apple's ISIN search."""
        return cls(
            charts={"AAPL": fixture("chart_AAPL_5d.json"),
                    "ULVR.L": fixture("chart_ULVR.L_5d.json"),
                    "EURUSD=X": fixture("chart_EURUSD=X_5d.json")},
            histories={"AAPL": fixture("chart_AAPL_history.json"),
                       "ULVR.L": fixture("chart_ULVR.L_5d.json")},
            summaries={"AAPL": fixture("quoteSummary_AAPL.json"),
                       "ULVR.L": fixture("quoteSummary_ULVR.L.json")},
            quotes={"AAPL": fixture("quote_AAPL.json"), "ULVR.L": fixture("quote_ULVR.L.json")},
            timeseries={"AAPL": fixture("timeseries_AAPL.json")},
            searches={"US0378331005": fixture("search_US0378331005.json")})

    def queue(self, path_part: str, *replies: Reply) -> None:
        """Answer the next requests whose path contains ``path_part`` with ``replies``."""
        self.queued[path_part].extend(replies)

    def count(self, path_part: str) -> int:
        """Requests whose path contains ``path_part``."""
        return sum(1 for _, path, _ in self.requests if path_part in path)

    def answer(self, host: str, path: str, query: dict[str, str]) -> Reply:
        """The reply to one request."""
        self.requests.append((host, path, query))
        for part, replies in self.queued.items():
            if part in path and replies:
                return replies.popleft()
        for part, reply in self.always.items():
            if part in path:
                return reply
        if host in ("fc.yahoo.com", "guce.yahoo.com", "consent.yahoo.com"):
            return Reply(404, b"<html><body>Not found</body></html>", HTML)
        if path.endswith("/v1/test/getcrumb"):
            return Reply(200, b"crumb-Abc123", "text/plain;charset=utf-8")
        symbol = path.rsplit("/", 1)[-1]
        if "/v8/finance/chart/" in path:
            table = self.histories if "period1" in query else self.charts
            body = table.get(symbol)
            return Reply(200, body) if body is not None else Reply(404, NOT_FOUND_CHART)
        if "/v10/finance/quoteSummary/" in path:
            if "crumb" not in query:
                return Reply(401, INVALID_CRUMB)
            body = self.summaries.get(symbol)
            return Reply(200, body) if body is not None else Reply(404, json.dumps(
                {"quoteSummary": {"result": None, "error": {
                    "code": "Not Found",
                    "description": f"Quote not found for symbol: {symbol}"}}}).encode())
        if path.endswith("/v7/finance/quote"):
            body = self.quotes.get(query.get("symbols", ""))
            return Reply(200, body or b'{"quoteResponse":{"result":[],"error":null}}')
        if "/fundamentals-timeseries/" in path:
            body = self.timeseries.get(symbol)
            return Reply(200, body or b'{"timeseries":{"result":[],"error":null}}')
        if path.endswith("/v1/finance/screener"):
            if "crumb" not in query:
                return Reply(401, INVALID_CRUMB)
            return Reply(200, self.screener) if self.screener is not None else Reply(
                500, SERVER_ERROR_JSON)
        if path.endswith("/v1/finance/search"):
            return Reply(200, self.searches.get(query.get("q", ""))
                         or fixture("search_empty.json"))
        return Reply(404, b"<html><body>Not found</body></html>", HTML)


class _Handler(BaseHTTPRequestHandler):
    fake: FakeYahoo

    def _serve(self) -> None:
        parts = urlsplit(self.path)
        host, _, path = parts.path.lstrip("/").partition("/")
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        if self.command == "POST":
            length = int(self.headers.get("Content-Length") or 0)
            self.server.fake.posted.append(self.rfile.read(length))  # type: ignore[attr-defined]
        reply = self.server.fake.answer(host, "/" + path, query)  # type: ignore[attr-defined]
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(reply.body)))
        if host == "fc.yahoo.com":
            self.send_header("Set-Cookie", "A3=d=AQABBKx; Max-Age=31557600; Path=/")
        self.end_headers()
        self.wfile.write(reply.body)

    do_GET = _serve
    do_POST = _serve

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""


class LocalYahooSession(YahooSession):
    """The production session, sending Yahoo's URLs to the fake on 127.0.0.1."""

    def __init__(self, port: int, timeout_s: float = 5.0) -> None:
        super().__init__(timeout_s)
        self.port = port
        self.seen: list[Answer] = []  # every answer, across calls

    def request(self, method: Any, url: str, *args: Any, **kwargs: Any) -> Any:
        """Rewrite the Yahoo host into a path on the local fake."""
        parts = urlsplit(url)
        assert parts.hostname in YAHOO_HOSTS, f"unexpected host {parts.hostname}"
        local = f"http://127.0.0.1:{self.port}/{parts.hostname}{parts.path}" + (
            f"?{parts.query}" if parts.query else "")
        response = super().request(method, local, *args, **kwargs)
        self.answers[-1] = replace(self.answers[-1], url=url)
        self.seen.append(self.answers[-1])
        return response


@contextmanager
def fake_yahoo(fake: FakeYahoo | None = None) -> Iterator[tuple[FakeYahoo, int]]:
    """Serve ``fake`` (default fixtures) on an ephemeral loopback port."""
    state = fake or FakeYahoo.default()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.fake = state  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state, server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
