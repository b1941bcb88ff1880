"""Reads that take more than one call: trades joined to their order and fee, and a
security's lot. The client delegates to these; each call goes through
:meth:`TradernetClient.read_raw` (read-only commands only).

A ``getTradesHistory`` row names the exchange's order number and no commission: a
trade's Tradernet order is the order whose fills hold the trade id (``getOrdersHistory``)
and its fee the ledger's commission rows naming it (``getUserCashFlows``). The broker
dates trades in Moscow time, so the windows are widened by a day on each side.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING

from arduino_trader.protocols.broker import CashFlow, CpsRequest, SecurityInfo, Trade
from arduino_trader.protocols.broker_errors import BrokerProtocolError

from . import normalise as nz
from .trade_fees import fees_by_trade

if TYPE_CHECKING:
    from .client import TradernetClient

READ_ONLY_COMMANDS = frozenset({
    "GetAllUserTexInfo", "getPositionJson", "getStockQuotesJson", "getNotifyOrderJson",
    "getOrdersHistory", "getTradesHistory", "getUserCashFlows", "getClientCpsHistory",
    "getSecurityInfo", "getMarketStatus", "getCrossRatesForDate", "getHloc"})
FEE_PAGE_SIZE = 500
CPS_PAGE_SIZE = 1000  # requests per page of getClientCpsHistory (limit/offset)
CPS_MAX_PAGES = 100
FEE_ROWS = 2000  # the newest ledger rows, holding the fees of the trades being synced
FEE_MAX_PAGES = 40  # at most this many pages for them (a server answering short pages)


def read_only(command: str) -> str:
    """``command`` when it only reads; any command that could change the account raises
    ``ValueError``."""
    if command not in READ_ONLY_COMMANDS:
        raise ValueError(f"{command} is not a read-only command")
    return command


async def joined_trades(client: TradernetClient, start: date, end: date
                        ) -> tuple[Trade, ...]:
    """Executed trades between two dates, each with its Tradernet order and fee."""
    data = await client.read_raw("getTradesHistory", {
        "beginDate": nz.fmt_date(start - timedelta(days=1)),
        "endDate": nz.fmt_date(end + timedelta(days=1)), "max": 0})
    bare = nz.parse_trades(data)
    if not bare:
        return ()
    low = datetime.combine(start, datetime.min.time(), UTC) - timedelta(days=2)
    high = datetime.combine(end, datetime.min.time(), UTC) + timedelta(days=2)
    orders = nz.trade_orders(await client.order_history(low, high))
    flows: list[CashFlow] = []
    read: set[str] = set()
    skip = 0
    for _ in range(FEE_MAX_PAGES):  # pages may be shorter than asked: an empty one ends
        got = await client.cash_flows(FEE_PAGE_SIZE, skip)
        skip += len(got)
        fresh = [f for f in got if f.flow_id not in read]
        read.update(f.flow_id for f in fresh)
        flows += fresh
        if not fresh or len(flows) >= FEE_ROWS:
            break
    fees = fees_by_trade(flows, {t.trade_id: t.currency for t in bare})
    return nz.parse_trades(data, orders=orders, fees=fees)


async def security_info(client: TradernetClient, symbol: str) -> SecurityInfo:
    """``getSecurityInfo``; its documented answer has no lot, which then comes from the
    quote's ``x_lot``. Neither having one is a ``BrokerProtocolError``, never a lot of 1."""
    data = await client.read_raw("getSecurityInfo", {"ticker": symbol, "sup": True})
    if nz.has_lot(data):
        return nz.parse_security_info(data, symbol)
    quote = await client.read_raw("getStockQuotesJson", {"tickers": symbol})
    return nz.parse_security_info(data, symbol, lot=nz.parse_quote_lot(quote, symbol))


def _total(data: object) -> int | None:
    """A paged answer's ``total`` (rows in all pages), None when absent or not a count."""
    container = data.get("result", data) if isinstance(data, dict) else None
    total = container.get("total") if isinstance(container, dict) else None
    return total if isinstance(total, int) and not isinstance(total, bool) else None


async def client_requests(client: TradernetClient, start: datetime, end: datetime
                          ) -> tuple[CpsRequest, ...]:
    """Client requests between two moments (``getClientCpsHistory``), page by page
    (``limit``/``offset``) until the answer's ``total``, or a page with no request not
    seen before (an empty one); more than ``CPS_MAX_PAGES`` pages is a
    ``BrokerProtocolError``, never a silently shortened history."""
    rows: list[CpsRequest] = []
    seen: set[int] = set()  # ids of earlier pages (a page's own repeats reach normalising)
    offset = 0
    for _ in range(CPS_MAX_PAGES):
        data = await client.read_raw("getClientCpsHistory", {
            "date_from": nz.fmt_datetime(start), "date_to": nz.fmt_datetime(end),
            "limit": CPS_PAGE_SIZE, "offset": offset})
        page = nz.parse_cps(data)
        offset += len(page)
        fresh = [r for r in page if r.request_id not in seen]
        rows += fresh
        seen.update(r.request_id for r in fresh)
        total = _total(data)
        # A page may be shorter than asked (the server's own cap): the end is the
        # answer's total, else an empty page.
        if not fresh or (total is not None and offset >= total):
            return tuple(rows)
    raise BrokerProtocolError(f"getClientCpsHistory: more than {CPS_MAX_PAGES} pages of "
                              f"{CPS_PAGE_SIZE} requests")
