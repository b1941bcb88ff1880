"""Reading Tradernet answers: the envelope, its quirks, and typed records.

Quirks handled: a top-level array means ``{"result": [...]}``; a one-element collection
may arrive as an object; numbers may be strings (``".00000000"``, decimal commas); errors
come as ``errMsg`` (envelope) or ``error`` (method), usually with HTTP 200. Anything
unreadable is :class:`BrokerProtocolError`, never an empty answer.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from arduino_trader.protocols.broker import (
    AccountSnapshot,
    Candle,
    CashBalance,
    CashFlow,
    CpsRequest,
    FinderHit,
    MarketState,
    Position,
    Quote,
    SecurityInfo,
)
from arduino_trader.protocols.broker_errors import (
    BrokerAuthError,
    BrokerProtocolError,
    BrokerRateLimited,
    BrokerRejected,
    BrokerUnavailable,
)

from .fields import (
    BROKER_TZ,
    as_list,
    brief,
    client_order_id,
    dec,
    dec_or_none,
    first,
    int_or_none,
    integer,
    parse_time,
    require,
    side_from_oper,
    text,
)
from .flow_instrument import flow_instrument
from .orders import parse_order, parse_orders, parse_trades, trade_orders

__all__ = [
    "as_list", "client_order_id", "dec", "dec_or_none", "int_or_none", "integer",
    "parse_order", "parse_orders", "parse_time", "parse_trades", "require",
    "side_from_oper", "text", "trade_orders",
]

_AUTH_WORDS = ("signature", "public key", "apikey", "api key", "user is not found",
               "unauthori")
UNAVAILABLE_CODE = 14
USER_NOT_FOUND_CODE = 7


# ---------------------------------------------------------------------------- envelope
def read_envelope(status: int, text: str, command: str,
                  retry_after: str | None = None) -> dict[str, Any]:
    """The JSON object of an answer, or the typed error it stands for."""
    if status == 429:
        wait = _float_or_none(retry_after)
        raise BrokerRateLimited(f"{command}: throttled (HTTP 429)", retry_after_s=wait,
                                command=command)
    if status in (401, 403):
        raise BrokerAuthError(f"{command}: HTTP {status}", command=command)
    if status >= 500:
        raise BrokerUnavailable(f"{command}: HTTP {status}", command=command)
    if status != 200:
        raise BrokerProtocolError(f"{command}: unexpected HTTP {status}", command=command)
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise BrokerProtocolError(f"{command}: answer is not JSON ({exc})",
                                  command=command) from None
    if isinstance(data, list):
        data = {"result": data}
    if not isinstance(data, dict):
        raise BrokerProtocolError(f"{command}: answer is {type(data).__name__}, not an object",
                                  command=command)
    raise_for_error(data, command)
    return data


def raise_for_error(data: Mapping[str, Any], command: str) -> None:
    """An error answer → the matching :class:`BrokerError`; a success passes.

    Documented shapes, all with HTTP 200: ``{"errMsg", "code"}`` (envelope errors),
    ``{"error", "code"}`` (method errors) and both messages together. A success may
    carry ``"code": 0`` (``getSecurityInfo``) or an empty ``error``: neither is an error.
    Authentication failures: the documented ``User is not found`` (code 7) and answers
    whose message names the signature or the API key.
    """
    message: Any = next((data[k] for k in ("errMsg", "error", "errorMsg")
                         if data.get(k) and (not isinstance(data[k], str) or data[k].strip())),
                        None)
    if message is None:
        return
    code = _int_or_none(data.get("code"))
    text = f"{command}: {message}" + (f" (code {code})" if code is not None else "")
    lowered = str(message).lower()
    if code == USER_NOT_FOUND_CODE or any(word in lowered for word in _AUTH_WORDS):
        raise BrokerAuthError(text, code=code, command=command)
    if code == UNAVAILABLE_CODE:
        raise BrokerUnavailable(text, code=code, command=command)
    raise BrokerRejected(text, code=code, command=command)


# ----------------------------------------------------------------------------- helpers
_first = first
_brief = brief


def _float_or_none(value: str | None) -> float | None:
    try:
        return float(value) if value else None
    except ValueError:
        return None


def _int_or_none(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _result(data: Mapping[str, Any], what: str) -> Mapping[str, Any]:
    result = require(data, "result", what)
    if not isinstance(result, Mapping):
        raise BrokerProtocolError(f"{what}: 'result' is not an object")
    return result


# ------------------------------------------------------------------------------ parsers
def parse_account(data: Mapping[str, Any]) -> AccountSnapshot:
    """``getPositionJson`` → positions and every cash row (negative ones kept).

    ``result.ps`` as the SDK reads it, or ``acc``/``pos`` at the top as the
    documentation's sample shows it.
    """
    result = data.get("result")
    if isinstance(result, Mapping) and "ps" in result:
        ps = result["ps"]
    elif "acc" in data or "pos" in data:
        ps = data
    else:
        ps = require(_result(data, "getPositionJson"), "ps", "getPositionJson")
    if not isinstance(ps, Mapping):
        raise BrokerProtocolError("getPositionJson: 'ps' is not an object")
    positions = []
    for row in as_list(ps.get("pos"), "getPositionJson.pos"):
        symbol = text(require(row, "i", "position"))
        positions.append(Position(
            symbol=symbol,
            quantity=dec(require(row, "q", f"position {symbol}"), f"{symbol}.q"),
            avg_price=dec(_first(row, "bal_price_a", "price_a") or 0, f"{symbol}.bal_price_a"),
            market_price=dec(require(row, "mkt_price", f"position {symbol}"),
                             f"{symbol}.mkt_price"),
            currency=text(require(row, "curr", f"position {symbol}")).upper(),
            name=text(row.get("name")),
            currency_rate=dec_or_none(row.get("currval"), f"{symbol}.currval"),
            profit=dec_or_none(row.get("profit_close"), f"{symbol}.profit_close"),
        ))
    cash = []
    for row in as_list(ps.get("acc"), "getPositionJson.acc"):
        currency = text(require(row, "curr", "cash row")).upper()
        cash.append(CashBalance(
            currency=currency,
            amount=dec(require(row, "s", f"cash {currency}"), f"cash {currency}"),
            currency_rate=dec_or_none(row.get("currval"), f"cash {currency}.currval"),
            forecast_in=dec_or_none(row.get("forecast_in"), "forecast_in") or Decimal(0),
            forecast_out=dec_or_none(row.get("forecast_out"), "forecast_out") or Decimal(0),
        ))
    return AccountSnapshot(tuple(positions), tuple(cash))


def parse_quotes(data: Mapping[str, Any]) -> tuple[Quote, ...]:
    """``getStockQuotesJson`` → quotes (``result.q`` or ``result.quotes``)."""
    result = _result(data, "getStockQuotesJson")
    if "q" in result:
        rows = result["q"]
    elif "quotes" in result:
        rows = result["quotes"]
    else:
        raise BrokerProtocolError("getStockQuotesJson: no 'q' or 'quotes' in result")
    quotes = []
    for row in as_list(rows, "getStockQuotesJson.q"):
        symbol = text(require(row, "c", "quote"))
        quotes.append(Quote(
            symbol=symbol,
            last=dec_or_none(row.get("ltp"), f"{symbol}.ltp"),
            bid=dec_or_none(row.get("bbp"), f"{symbol}.bbp"),
            ask=dec_or_none(row.get("bap"), f"{symbol}.bap"),
            prev_close=dec_or_none(row.get("pp"), f"{symbol}.pp"),
            currency=text(row.get("x_curr")).upper(),
            isin=text(row.get("issue_nb")),
            lot=int_or_none(row.get("x_lot"), f"{symbol}.x_lot") or 1,
            min_step=dec_or_none(row.get("min_step"), f"{symbol}.min_step"),
            name=text(row.get("name")),
            at=parse_time(row.get("ltt"), f"{symbol}.ltt"),
        ))
    return tuple(quotes)


def parse_cash_flows(data: Mapping[str, Any]) -> tuple[CashFlow, ...]:
    """``getUserCashFlows`` → signed movements."""
    container = data.get("result", data)
    if not isinstance(container, Mapping):
        raise BrokerProtocolError("getUserCashFlows: 'result' is not an object")
    rows = require(container, "cashflow", "getUserCashFlows")
    out = []
    for row in as_list(rows, "getUserCashFlows.cashflow"):
        flow_id = text(require(row, "id", "cash flow"))
        symbol, isin = flow_instrument(row)
        out.append(CashFlow(
            flow_id=flow_id,
            type_code=text(row.get("type_code")),
            amount=dec(require(row, "sum", f"cash flow {flow_id}"), f"cash flow {flow_id}"),
            currency=text(require(row, "currency", f"cash flow {flow_id}")).upper(),
            at=parse_time(row.get("date"), f"cash flow {flow_id}.date"),
            comment=text(row.get("comment")),
            symbol=symbol, isin=isin,
        ))
    return tuple(out)


def parse_cps(data: Mapping[str, Any]) -> tuple[CpsRequest, ...]:
    """``getClientCpsHistory`` → client requests."""
    container = data.get("result", data)
    if not isinstance(container, Mapping):
        raise BrokerProtocolError("getClientCpsHistory: 'result' is not an object")
    rows = require(container, "cps", "getClientCpsHistory")
    out = []
    for row in as_list(rows, "getClientCpsHistory.cps"):
        request_id = integer(require(row, "id", "cps"), "cps.id")
        params = row.get("params") or {}
        if isinstance(params, str):
            try:
                params = json.loads(params)
            except ValueError:
                params = {"raw": params}
        out.append(CpsRequest(
            request_id=request_id,
            type_doc_id=integer(require(row, "type_doc_id", f"cps {request_id}"), "type_doc_id"),
            status=integer(require(row, "status_c", f"cps {request_id}"), "status_c"),
            created_at=parse_time(row.get("date_crt"), f"cps {request_id}.date_crt"),
            params=dict(params) if isinstance(params, Mapping) else {"raw": params},
        ))
    return tuple(out)


def parse_security_info(data: Mapping[str, Any], symbol: str,
                        lot: int | None = None) -> SecurityInfo:
    """``getSecurityInfo`` → lot, step, currency, market id.

    The documented answer has no lot; ``lot`` is then the caller's, read from the
    quote's ``x_lot`` (:func:`parse_quote_lot`). No lot from either is an error: a wrong
    lot sizes every order wrong.
    """
    row = data.get("result", data)
    if not isinstance(row, Mapping):
        raise BrokerProtocolError("getSecurityInfo: answer is not an object")
    own = int_or_none(first(row, "lot", "lot_size_q"), "lot")
    if own is None and lot is None:
        raise BrokerProtocolError(f"getSecurityInfo {symbol}: no lot size in the answer")
    mrkt = row.get("mrkt")
    market_id = int_or_none(mrkt.get("mkt_id"), "mrkt.mkt_id") \
        if isinstance(mrkt, Mapping) else None
    return SecurityInfo(
        symbol=text(first(row, "nt_ticker", "ticker") or symbol),
        name=text(first(row, "short_name", "name")),
        currency=text(require(row, "currency", "getSecurityInfo")).upper(),
        min_step=dec_or_none(row.get("min_step"), "min_step"),
        lot=_positive_lot(own if own is not None else lot, symbol),
        market_id=market_id,
        isin=text(row.get("issue_nb")),
    )


def has_lot(data: Mapping[str, Any]) -> bool:
    """True when a ``getSecurityInfo`` answer names the lot size itself."""
    row = data.get("result", data)
    return isinstance(row, Mapping) and first(row, "lot", "lot_size_q") not in (None, "")


def parse_quote_lot(data: Mapping[str, Any], symbol: str) -> int:
    """The lot size (``x_lot``) of ``symbol`` in a ``getStockQuotesJson`` answer."""
    result = _result(data, "getStockQuotesJson")
    rows = as_list(first(result, "q", "quotes"), "getStockQuotesJson.q")
    for row in rows:
        if text(row.get("c")) == symbol:
            lot = int_or_none(row.get("x_lot"), f"{symbol}.x_lot")
            if lot is None:
                break
            return _positive_lot(lot, symbol)
    raise BrokerProtocolError(f"getStockQuotesJson {symbol}: no lot size (x_lot)")


def _positive_lot(lot: int | None, symbol: str) -> int:
    if lot is None or lot < 1:
        raise BrokerProtocolError(f"{symbol}: lot size {lot!r} is not a positive integer")
    return lot


def parse_finder(data: Mapping[str, Any]) -> tuple[FinderHit, ...]:
    """``tickerFinder`` → hits; the first is the primary listing."""
    container = data.get("result", data)
    if not isinstance(container, Mapping):
        raise BrokerProtocolError("tickerFinder: answer is not an object")
    hits = []
    for row in as_list(require(container, "found", "tickerFinder"), "tickerFinder.found"):
        hits.append(FinderHit(
            symbol=text(require(row, "t", "tickerFinder hit")),
            name=text(_first(row, "nm", "n", "ln")),
            isin=text(row.get("isin")),
            instrument_type=int_or_none(row.get("type"), "type"),
            instrument_kind=int_or_none(row.get("kind"), "kind"),
            market=text(row.get("mkt")),
            market_id=int_or_none(row.get("mkt_id"), "mkt_id"),
            currency=text(row.get("x_curr")).upper(),
        ))
    return tuple(hits)


def parse_market_status(data: Mapping[str, Any]) -> tuple[MarketState, ...]:
    """``getMarketStatus`` → ``result.markets.m[]``."""
    markets = require(_result(data, "getMarketStatus"), "markets", "getMarketStatus")
    if not isinstance(markets, Mapping):
        raise BrokerProtocolError("getMarketStatus: 'markets' is not an object")
    out = []
    for row in as_list(require(markets, "m", "getMarketStatus"), "getMarketStatus.m"):
        state = text(require(row, "s", "market")).upper()
        out.append(MarketState(code=text(_first(row, "n2", "n")), name=text(row.get("n")),
                               market_id=int_or_none(row.get("i"), "market.i"),
                               is_open=state == "OPEN", opens=text(row.get("o")),
                               closes=text(row.get("c"))))
    return tuple(out)


def parse_cross_rates(data: Mapping[str, Any]) -> dict[str, Decimal]:
    """``getCrossRatesForDate`` → units of each currency per 1 base."""
    container = data.get("result", data)
    if not isinstance(container, Mapping):
        raise BrokerProtocolError("getCrossRatesForDate: answer is not an object")
    rates = require(container, "rates", "getCrossRatesForDate")
    if not isinstance(rates, Mapping):
        raise BrokerProtocolError("getCrossRatesForDate: 'rates' is not an object")
    return {str(k).upper(): dec(v, f"rate {k}") for k, v in rates.items()}


def parse_hloc(data: Mapping[str, Any], symbol: str) -> tuple[Candle, ...]:
    """``getHloc`` → bars; ``hloc`` rows are [high, low, open, close], times in ``xSeries``."""
    hloc = require(data, "hloc", "getHloc")
    series = require(data, "xSeries", "getHloc")
    if not isinstance(hloc, Mapping) or not isinstance(series, Mapping):
        raise BrokerProtocolError("getHloc: 'hloc'/'xSeries' are not objects")
    bars = hloc.get(symbol)
    times = series.get(symbol)
    if bars is None and times is None:
        return ()
    volumes = (data.get("vl") or {}).get(symbol) or []
    if not isinstance(bars, list) or not isinstance(times, list) or len(bars) != len(times):
        raise BrokerProtocolError(f"getHloc {symbol}: bars and times do not line up")
    out = []
    for i, (bar, stamp) in enumerate(zip(bars, times, strict=True)):
        if not isinstance(bar, list) or len(bar) != 4:
            raise BrokerProtocolError(f"getHloc {symbol}: bar {i} is not [h,l,o,c]")
        high, low, open_, close = (dec(v, f"{symbol} bar {i}") for v in bar)
        at = parse_time(integer(stamp, f"{symbol} time {i}"), f"{symbol} time {i}")
        assert at is not None
        volume = dec(volumes[i], f"{symbol} volume {i}") if i < len(volumes) else Decimal(0)
        out.append(Candle(at=at, open=open_, high=high, low=low, close=close, volume=volume))
    return tuple(out)


def fmt_date(value: date) -> str:
    """``YYYY-MM-DD``."""
    return value.strftime("%Y-%m-%d")


def fmt_datetime(value: datetime) -> str:
    """``YYYY-MM-DDThh:mm:ss`` in the broker's time (Moscow), no zone."""
    return value.astimezone(BROKER_TZ).strftime("%Y-%m-%dT%H:%M:%S")


def fmt_hloc_time(value: datetime) -> str:
    """``DD.MM.YYYY hh:mm`` as ``getHloc`` wants it."""
    return value.astimezone(UTC).strftime("%d.%m.%Y %H:%M")

