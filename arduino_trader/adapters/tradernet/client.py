"""The Tradernet client: signed aiohttp requests on the daemon's I/O loop.

Every call has a timeout and passes a client-side rate limiter and a circuit breaker.
Idempotent reads are retried with jittered exponential backoff; an order placement is
never retried: when its answer is lost, the order is looked up by ``user_order_id``
(:mod:`.order_recovery`) and either found (acknowledged, ``recovered``), not found yet
(:class:`OrderNotPlaced`: the request may still be in flight; the journal keeps it open),
or left unknown (:class:`OrderOutcomeUnknown`: reconcile before any further order).
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import quote

import aiohttp
import structlog

from arduino_trader.protocols.broker import (
    AccountSnapshot,
    Candle,
    CashFlow,
    CpsRequest,
    FinderHit,
    MarketState,
    Order,
    OrderAck,
    OrderRequest,
    Quote,
    SecurityInfo,
    Trade,
)
from arduino_trader.protocols.broker_errors import (
    BrokerAuthError,
    BrokerError,
    BrokerProtocolError,
    BrokerRateLimited,
    BrokerUnavailable,
    OrdersDisabled,
)

from .. import crashpoints
from . import normalise as nz
from . import reads
from .client_config import ClientConfig
from .order_recovery import match_order, recover_placement
from .orders import order_params
from .resilience import BreakerState, CircuitBreaker, RateLimiter
from .screening import parse_top_securities, top_params
from .signing import encode_body, signed_headers
from .stats import CallStats

log = structlog.get_logger(component="tradernet")

FIND_ORDER_LOOKBACK = timedelta(days=7)


def cash_flow_params(take: int, skip: int) -> dict[str, Any]:
    """``getUserCashFlows`` parameters: a page of the ledger, newest first (the documented
    ``sort`` by ``date``; the cash-flow sync checks the order it gets)."""
    return {"take": take, "skip": skip, "without_refund": 1,
            "sort": [{"field": "date", "dir": "DESC"}]}


class BrokerCircuitOpen(BrokerUnavailable):
    """The breaker is open: the request was not sent."""

    kind = "broker_circuit_open"


class BrokerTimeout(BrokerUnavailable):
    """No answer within the timeout (the request may have been processed)."""

    kind = "broker_timeout"


class TradernetClient:
    """The :class:`~arduino_trader.protocols.broker.Broker` port over the Tradernet API."""

    simulated = False

    def __init__(self, config: ClientConfig, *,
                 orders_allowed: Callable[[], bool],
                 credentials: Callable[[], tuple[str, str]] | None = None,
                 monotonic: Callable[[], float] = time.monotonic,
                 wall_time: Callable[[], float] = time.time,
                 rng: random.Random | None = None) -> None:
        self.config = config
        self._orders_allowed = orders_allowed
        self._credentials = credentials or (lambda: (config.public_key, config.private_key))
        self._wall_time = wall_time
        self._rng = rng or random.Random()
        self.limiter = RateLimiter(config.requests_per_minute, config.burst, monotonic)
        self.breaker = CircuitBreaker(config.breaker_failures, config.breaker_cooldown_s,
                                      monotonic)
        self._session: aiohttp.ClientSession | None = None
        self._base = config.base_url.rstrip("/")
        self._monotonic = monotonic
        self.stats = CallStats()

    # ------------------------------------------------------------------ transport
    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                headers={"User-Agent": self.config.user_agent},
                connector=aiohttp.TCPConnector(limit=4))
        return self._session

    async def close(self) -> None:
        """Close the HTTP session."""
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None

    def breaker_state(self) -> BreakerState:
        """The circuit breaker's state, for health reports."""
        return self.breaker.snapshot()

    def build_request(self, command: str, params: Mapping[str, Any] | None,
                      timestamp: str) -> tuple[str, dict[str, str], bytes]:
        """URL, headers and body bytes of a signed request (pure; used by tests too)."""
        body = encode_body(params)
        public, private = self._credentials()
        headers = signed_headers(public, private, body, timestamp)
        return f"{self._base}/api/{command}", headers, body.encode()

    async def _send(self, method: str, url: str, command: str, *, timeout: float,  # noqa: ASYNC109
                    headers: dict[str, str] | None = None, body: bytes | None = None,
                    breaker: bool = True) -> dict[str, Any]:
        started = self._monotonic()
        try:
            data = await self._send_once(method, url, command, timeout=timeout,
                                         headers=headers, body=body, breaker=breaker)
        except BrokerError as exc:
            self.stats.record(command, self._monotonic() - started, exc.kind)
            raise
        self.stats.record(command, self._monotonic() - started)
        return data

    async def _send_once(self, method: str, url: str, command: str, *,
                         timeout: float,  # noqa: ASYNC109
                         headers: dict[str, str] | None, body: bytes | None,
                         breaker: bool) -> dict[str, Any]:
        if breaker and not self.breaker.allow():
            state = self.breaker.snapshot()
            raise BrokerCircuitOpen(
                f"{command}: circuit open after repeated failures ({state.last_error}); "
                f"retry in {state.retry_in_s:.0f} s", command=command)
        await self.limiter.acquire()
        crashpoints.hit("broker_before", command)  # test-only crash point (off unless armed)
        try:
            async with self._get_session().request(
                    method, url, data=body, headers=headers,
                    timeout=aiohttp.ClientTimeout(total=timeout)) as resp:
                raw = await resp.read()
                status = resp.status
                retry_after = resp.headers.get("Retry-After")
        except TimeoutError:
            self.breaker.failure(f"{command}: timeout")
            raise BrokerTimeout(f"{command}: no answer within {timeout:g} s",
                                command=command) from None
        except aiohttp.ClientError as exc:
            self.breaker.failure(f"{command}: {type(exc).__name__}")
            raise BrokerUnavailable(f"{command}: connection failed ({type(exc).__name__}: "
                                    f"{exc})", command=command) from None
        crashpoints.hit("broker_after", command)  # test-only crash point (off unless armed)
        try:
            text = raw.decode("utf-8")
            data = nz.read_envelope(status, text, command, retry_after)
        except UnicodeDecodeError:
            self.breaker.failure(f"{command}: undecodable answer")
            raise BrokerProtocolError(f"{command}: answer is not UTF-8",
                                      command=command) from None
        except (BrokerUnavailable, BrokerProtocolError) as exc:
            self.breaker.failure(exc.message)
            raise
        except BrokerError:
            self.breaker.success()  # reachable: the broker answered and refused
            raise
        self.breaker.success()
        return data

    async def _call(self, command: str, params: Mapping[str, Any] | None = None, *,
                    idempotent: bool = True, timeout: float | None = None,  # noqa: ASYNC109
                    breaker: bool = True) -> dict[str, Any]:
        """A signed POST; idempotent calls are retried on transient failures."""
        if not all(self._credentials()):
            raise BrokerAuthError("Tradernet API keys are not configured "
                                  "(tradernet_api_key / tradernet_api_secret)", command=command)
        attempts = 1 + (max(0, self.config.read_retries) if idempotent else 0)
        for attempt in range(attempts):
            url, headers, body = self.build_request(command, params,
                                                    str(int(self._wall_time())))
            try:
                return await self._send("POST", url, command, headers=headers, body=body,
                                        timeout=timeout or self.config.timeout_s,
                                        breaker=breaker)
            except BrokerCircuitOpen:
                raise
            except (BrokerUnavailable, BrokerProtocolError) as exc:
                if attempt + 1 >= attempts:
                    raise
                delay = self._backoff(attempt, exc)
                log.info("broker_retry", command=command, attempt=attempt + 1,
                         delay_s=round(delay, 3), error=exc.message)
                await asyncio.sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _public(self, command: str, params: Mapping[str, Any]) -> dict[str, Any]:
        """An unsigned public GET ``/api/?q={"cmd":…,"params":…}`` (idempotent)."""
        query = quote(json.dumps({"cmd": command, "params": dict(params)},
                                 separators=(",", ":")))
        url = f"{self._base}/api/?q={query}"
        attempts = 1 + max(0, self.config.read_retries)
        for attempt in range(attempts):
            try:
                return await self._send("GET", url, command, timeout=self.config.timeout_s)
            except BrokerCircuitOpen:
                raise
            except (BrokerUnavailable, BrokerProtocolError) as exc:
                if attempt + 1 >= attempts:
                    raise
                await asyncio.sleep(self._backoff(attempt, exc))
        raise AssertionError("unreachable")  # pragma: no cover

    def _backoff(self, attempt: int, exc: BrokerError) -> float:
        if isinstance(exc, BrokerRateLimited) and exc.retry_after_s:
            return min(self.config.backoff_max_s, exc.retry_after_s)
        ceiling = min(self.config.backoff_max_s, self.config.backoff_base_s * 2 ** attempt)
        return ceiling / 2 + self._rng.uniform(0, ceiling / 2)  # "equal jitter"

    # ---------------------------------------------------------------------- reads
    async def probe(self) -> str:
        """``GetAllUserTexInfo``: proves the keys work and the broker answers."""
        data = await self._call("GetAllUserTexInfo", None, idempotent=True)
        if not data:
            raise BrokerProtocolError("GetAllUserTexInfo: empty answer",
                                      command="GetAllUserTexInfo")
        return "authenticated"

    async def read_raw(self, command: str, params: Mapping[str, Any] | None = None) -> Any:
        """A read-only command's answer as sent (others raise ``ValueError``)."""
        return await self._call(reads.read_only(command), params)

    async def account(self) -> AccountSnapshot:
        """Positions and cash (``getPositionJson``)."""
        return nz.parse_account(await self._call("getPositionJson"))

    async def quotes(self, symbols: tuple[str, ...]) -> tuple[Quote, ...]:
        """Quotes (``getStockQuotesJson``)."""
        if not symbols:
            return ()
        return nz.parse_quotes(await self._call("getStockQuotesJson",
                                                {"tickers": ",".join(symbols)}))

    async def current_orders(self) -> tuple[Order, ...]:
        """Every order of the current period (``getNotifyOrderJson`` active_only=0)."""
        data = await self._call("getNotifyOrderJson", {"active_only": 0})
        return nz.parse_orders(data, "getNotifyOrderJson")

    async def open_orders(self) -> tuple[Order, ...]:
        """Orders still pending (``active_only``=1, filtered again by status)."""
        data = await self._call("getNotifyOrderJson", {"active_only": 1})
        return tuple(o for o in nz.parse_orders(data, "getNotifyOrderJson") if not o.terminal)

    async def find_order(self, user_order_id: int) -> Order | None:
        """The order carrying ``user_order_id`` (current period, then the last week), or None.

        The history fallback finds an order placed before a session boundary (an order
        from 23:59 is no longer "current" at 00:01).
        """
        found = match_order(await self.current_orders(), user_order_id)
        if found is not None:
            return found
        now = datetime.fromtimestamp(self._wall_time(), UTC)
        history = await self.order_history(now - FIND_ORDER_LOOKBACK, now + timedelta(days=1))
        return match_order(history, user_order_id)

    async def order_history(self, start: datetime, end: datetime) -> tuple[Order, ...]:
        """Orders in a period (``getOrdersHistory``)."""
        data = await self._call("getOrdersHistory", {"from": nz.fmt_datetime(start),
                                                     "till": nz.fmt_datetime(end)})
        return nz.parse_orders(data, "getOrdersHistory")

    async def trades(self, start: date, end: date) -> tuple[Trade, ...]:
        """Executed trades with their Tradernet order and fee (:mod:`.reads`)."""
        return await reads.joined_trades(self, start, end)

    async def cash_flows(self, take: int = 500, skip: int = 0) -> tuple[CashFlow, ...]:
        """Cash movements, newest first (``getUserCashFlows`` sorted by date)."""
        return nz.parse_cash_flows(await self._call("getUserCashFlows",
                                                    cash_flow_params(take, skip)))

    async def client_requests(self, start: datetime, end: datetime) -> tuple[CpsRequest, ...]:
        """Client requests (``getClientCpsHistory``, every page: :mod:`.reads`)."""
        return await reads.client_requests(self, start, end)

    async def security_info(self, symbol: str) -> SecurityInfo:
        """Lot, step, currency (``getSecurityInfo``; the lot may be the quote's)."""
        return await reads.security_info(self, symbol)

    async def find_security(self, text: str) -> tuple[FinderHit, ...]:
        """Public ``tickerFinder``."""
        return nz.parse_finder(await self._public("tickerFinder", {"text": text}))

    async def top_securities(self, exchange: str, *, kind: str = "stocks",
                             gainers: bool = False, limit: int = 10) -> tuple[str, ...]:
        """Public ``getTopSecurities`` (:mod:`.screening`)."""
        return parse_top_securities(await self._public(
            "getTopSecurities", top_params(exchange, kind, gainers, limit)))

    async def market_status(self, market: str = "*") -> tuple[MarketState, ...]:
        """``getMarketStatus``."""
        return nz.parse_market_status(await self._call("getMarketStatus", {"market": market}))

    async def cross_rates(self, base: str, currencies: tuple[str, ...],
                          on: date | None = None) -> dict[str, Decimal]:
        """``getCrossRatesForDate``: units of each currency per 1 ``base``."""
        params: dict[str, Any] = {"base_currency": base, "currencies": list(currencies)}
        if on is not None:
            params["date"] = nz.fmt_date(on)
        rates = nz.parse_cross_rates(await self._call("getCrossRatesForDate", params))
        missing = [c for c in currencies if c not in rates]
        if missing:
            raise BrokerProtocolError(f"getCrossRatesForDate: no rate for {missing}",
                                      command="getCrossRatesForDate")
        return rates

    async def daily_history(self, symbol: str, start: datetime,
                            end: datetime) -> tuple[Candle, ...]:
        """Daily bars (``getHloc``, timeframe 1440 min)."""
        data = await self._call("getHloc", {
            "id": symbol, "count": -1, "timeframe": 1440,
            "date_from": nz.fmt_hloc_time(start), "date_to": nz.fmt_hloc_time(end),
            "intervalMode": "ClosedRay"})
        return nz.parse_hloc(data, symbol)

    # --------------------------------------------------------------------- orders
    def order_params(self, request: OrderRequest) -> dict[str, Any]:
        """The ``putTradeOrder`` parameters (:func:`.orders.order_params`)."""
        return order_params(request)

    async def place_order(self, request: OrderRequest) -> OrderAck:
        """Place once; after a lost answer, look the order up by its client id."""
        if not self._orders_allowed():
            raise OrdersDisabled("orders are refused: trading_mode is not live",
                                 command="putTradeOrder")
        params = self.order_params(request)
        try:
            data = await self._call("putTradeOrder", params, idempotent=False,
                                    timeout=self.config.order_timeout_s)
        except (BrokerCircuitOpen, BrokerRateLimited):
            raise  # not sent / not processed
        except (BrokerUnavailable, BrokerProtocolError) as exc:
            return await recover_placement(
                request, exc, self._all_current_orders,
                attempts=self.config.lookup_attempts, delay_s=self.config.lookup_delay_s)
        container = data.get("result", data) if isinstance(data.get("result"), dict) else data
        order_id = nz.integer(nz.require(container, "order_id", "putTradeOrder"),
                              "putTradeOrder.order_id")
        log.info("order_placed", order_id=order_id, user_order_id=request.user_order_id,
                 symbol=request.symbol, side=request.side, qty=request.quantity)
        return OrderAck(order_id=order_id, user_order_id=request.user_order_id)

    async def _all_current_orders(self) -> tuple[Order, ...]:
        """The placement lookup's read: this period's orders, outside the breaker."""
        data = await self._call("getNotifyOrderJson", {"active_only": 0},
                                idempotent=True, breaker=False)
        return nz.parse_orders(data, "getNotifyOrderJson")

    async def cancel_order(self, order_id: int) -> None:
        """``delTradeOrder`` (not retried; the caller re-reads the order's status).

        Allowed in any mode: a cancel only reduces exposure, and the kill switch cancels
        live orders after it has switched to research."""
        await self._call("delTradeOrder", {"order_id": int(order_id)}, idempotent=False)
