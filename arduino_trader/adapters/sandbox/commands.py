"""Answers of the sandbox, command by command, in Tradernet's documented shapes.

Every key it sends is documented, with the documented JSON type (numbers where the
samples have numbers, strings such as zero cash ``".00000000"`` where they have strings;
held to ``tests/fixtures/tradernet/`` by tests). Quirks the client must survive: a
one-element collection is sent as an object, not a list; an absent collection is
omitted; ``getPlannedCorpActions`` answers with a top-level array; method errors are
``{"error", "code"}`` with HTTP 200.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from .account import SandboxAccount, SandboxReject
from .fx import fx_bid_ask, fx_pair_of, instrument
from .market import CATALOGUE, EUR_RATES, MARKETS, Instrument, find
from .order_rows import (
    collection,
    notify_orders,
    number,
    orders_history,
    trades_history,
)
from .times import broker_time

Handler = Callable[[SandboxAccount, dict[str, Any], datetime], Any]


def _num(value: Decimal) -> str:
    """Numbers as strings, zero as ``".00000000"`` (as the real API sends it)."""
    if value == 0:
        return ".00000000"
    return format(value, "f")


def _rate(currency: str) -> Decimal:
    return EUR_RATES.get(currency, Decimal(1))


def position_json(acc: SandboxAccount, params: dict[str, Any], now: datetime) -> Any:
    """``getPositionJson``."""
    with acc.lock:
        cash = [{"curr": cur, "s": _num(Decimal(amount)), "currval": float(_rate(cur)),
                 "forecast_in": ".00000000", "forecast_out": ".00000000"}
                for cur, amount in sorted(acc.state["cash"].items())]
        positions = []
        for ticker, row in sorted(acc.state["positions"].items()):
            inst = find(ticker)
            if inst is None:
                continue
            price = acc.market.last(inst, now)
            q, cost = Decimal(row["q"]), Decimal(row["cost"])
            positions.append({  # numbers as the documented JSON numbers
                "i": ticker, "t": inst.instr_type, "k": inst.instr_kind, "q": number(row["q"]),
                "bal_price_a": number(row["cost"]), "mkt_price": float(price),
                "curr": inst.currency, "currval": float(_rate(inst.currency)),
                "name": inst.name, "name2": inst.name,
                "profit_close": float((price - cost) * q), "close_price": float(price),
                "market_value": float(price * q), "open_bal": float(cost * q),
            })
    ps: dict[str, Any] = {"key": "sandbox", "acc": collection(cash)}
    if positions:
        ps["pos"] = collection(positions)
    return {"result": {"ps": ps}}


def stock_quotes(acc: SandboxAccount, params: dict[str, Any], now: datetime) -> Any:
    """``getStockQuotesJson``."""
    tickers = [t for t in str(params.get("tickers", "")).split(",") if t.strip()]
    if not tickers:
        raise SandboxReject("tickers is required", 2)
    rows = []
    for ticker in tickers:
        inst = instrument(ticker)  # securities and FX pairs alike
        if inst is None:
            continue
        rows.append(_quote(acc, inst, now))
    return {"result": {"q": collection(rows)}}


def _quote(acc: SandboxAccount, inst: Instrument, now: datetime) -> dict[str, Any]:
    pair = fx_pair_of(inst)
    if pair is not None:  # FX pairs: the cross of the fixed EUR rates
        bid, ask = fx_bid_ask(pair)
        last = prev = inst.base_price
    else:
        last = acc.market.last(inst, now)
        bid, ask = acc.market.bid_ask(inst, now)
        prev = acc.market.close(inst, now - timedelta(days=1))
    return {"c": inst.ticker, "ltp": str(last), "bbp": str(bid), "bap": str(ask),
            "pp": str(prev), "op": str(prev), "chg": str(last - prev),
            "pcp": str(((last - prev) / prev * 100).quantize(Decimal("0.01"))),
            "vol": 123456, "ltt": broker_time(now), "x_curr": inst.currency,
            "issue_nb": inst.isin, "x_lot": inst.lot, "min_step": str(inst.min_step),
            "name": inst.name}


def put_trade_order(acc: SandboxAccount, params: dict[str, Any], now: datetime) -> Any:
    """``putTradeOrder``."""
    return acc.place(params, now)


def del_trade_order(acc: SandboxAccount, params: dict[str, Any], now: datetime) -> Any:
    """``delTradeOrder``."""
    if "order_id" not in params:
        raise SandboxReject("order_id is required", 2)
    return acc.cancel(params["order_id"], now)


def user_cash_flows(acc: SandboxAccount, params: dict[str, Any], now: datetime) -> Any:
    """``getUserCashFlows``, paged by take/skip: in booking order, or by the documented
    ``sort`` (``[{"field": "date", "dir": "ASC"|"DESC"}]``; other fields are refused)."""
    take = capped(acc, int(params.get("take") or 100))
    skip = int(params.get("skip") or 0)
    order = params.get("sort") or []
    if not isinstance(order, list) or any(
            not isinstance(o, dict) or o.get("field") != "date"
            or o.get("dir") not in ("ASC", "DESC") for o in order):
        raise SandboxReject(f"sort: unsupported {order!r}", 2)
    with acc.lock:
        rows = list(acc.state["cash_flows"])
    if order:  # by day, a day's rows by booking (the later booked first when descending)
        rows = [r for _, r in sorted(enumerate(rows), key=lambda ir: (str(ir[1]["date"])[:10],
                                                                      ir[0]),
                                     reverse=order[0]["dir"] == "DESC")]
    return {"total": len(rows), "cashflow": [dict(r) for r in rows[skip:skip + take]]}


def cps_history(acc: SandboxAccount, params: dict[str, Any], now: datetime) -> Any:
    """``getClientCpsHistory``, paged by ``limit``/``offset`` (all rows when no limit);
    ``total`` counts every page's rows."""
    with acc.lock:
        rows = [dict(r) for r in acc.state.get("cps", [])]
    offset = int(params.get("offset") or 0)
    limit = params.get("limit")
    size = capped(acc, len(rows) if limit is None else int(limit))
    return {"cps": rows[offset:offset + size], "total": len(rows)}


def capped(acc: SandboxAccount, asked: int) -> int:
    """Rows one page answers: what was asked, at most the account's ``page_cap`` when
    one is set (a server that answers fewer rows than asked, whatever the request)."""
    with acc.lock:
        cap = acc.state.get("page_cap")
    return asked if cap is None else min(asked, int(cap))


def security_info(acc: SandboxAccount, params: dict[str, Any], now: datetime) -> Any:
    """``getSecurityInfo``: the documented answer, which has no lot (quotes have it)."""
    inst = instrument(str(params.get("ticker", "")))
    if inst is None:
        raise SandboxReject(f"Security {params.get('ticker')!r} not found", 18)
    ident = CATALOGUE.index(inst) + 1001 if inst in CATALOGUE else 2000 + inst.market_id
    return {"id": ident, "short_name": inst.name, "default_ticker": inst.ticker.split(".")[0],
            "nt_ticker": inst.ticker, "currency": inst.currency,
            "min_step": float(inst.min_step), "code": 0}  # the documented keys: no lot


def ticker_finder(acc: SandboxAccount, params: dict[str, Any], now: datetime) -> Any:
    """``tickerFinder`` (public): by ISIN, ticker or name fragment; ``TICKER@MARKET``
    searches that market only (FIX, EU, HKEX, ...)."""
    needle, _, market = str(params.get("text", "")).partition("@")
    needle, market = needle.strip().upper(), market.strip().upper()
    if not needle:
        raise SandboxReject("text is required", 2)
    hits = [i for i in CATALOGUE
            if (needle in (i.isin, i.ticker.upper(), i.ticker.split(".")[0].upper())
                or needle in i.name.upper()) and market in ("", i.market)]
    return {"found": [{"instr_id": str(CATALOGUE.index(i) + 1001), "t": i.ticker,
                       "nm": i.name, "n": i.name, "ln": i.name, "tn": i.name,
                       "code_nm": i.ticker, "isin": i.isin, "type": i.instr_type,
                       "kind": i.instr_kind, "mkt": i.market, "mkt_id": str(i.market_id)}
                      for i in hits], "code": 0}


def market_status(acc: SandboxAccount, params: dict[str, Any], now: datetime) -> Any:
    """``getMarketStatus``."""
    wanted = str(params.get("market", "*"))
    closed = set(acc.state.get("closed_markets", []))
    rows = [{"n": name, "n2": code, "s": "CLOSE" if code in closed else "OPEN",
             "o": "09:00:00", "c": "23:59:00", "dt": "0"}
            for code, name, _ in MARKETS if wanted in ("*", code)]
    return {"result": {"markets": {"t": broker_time(now).replace("T", " "), "m": rows}}}


def cross_rates(acc: SandboxAccount, params: dict[str, Any], now: datetime) -> Any:
    """``getCrossRatesForDate``: units of each currency per 1 base."""
    base = str(params.get("base_currency", "EUR")).upper()
    currencies = params.get("currencies") or []
    if base not in EUR_RATES or not isinstance(currencies, list):
        raise SandboxReject(f"Unknown base currency {base!r}", 2)
    rates = {}
    for cur in currencies:
        cur = str(cur).upper()
        if cur in EUR_RATES:
            rates[cur] = float((EUR_RATES[cur] / EUR_RATES[base]).quantize(Decimal("0.0001")))
    return {"rates": rates}


def hloc(acc: SandboxAccount, params: dict[str, Any], now: datetime) -> Any:
    """``getHloc``: bars as [high, low, open, close], times in ``xSeries``."""
    try:
        start = datetime.strptime(str(params.get("date_from")), "%d.%m.%Y %H:%M")
        end = datetime.strptime(str(params.get("date_to")), "%d.%m.%Y %H:%M")
    except ValueError:
        raise SandboxReject("date_from/date_to: expected DD.MM.YYYY hh:mm", 2) from None
    out: dict[str, Any] = {"hloc": {}, "vl": {}, "xSeries": {}, "maxSeries": 0, "info": {}}
    for ticker in str(params.get("id", "")).split(","):
        inst = find(ticker)
        if inst is None:
            continue
        bars = acc.market.candles(inst, start.replace(tzinfo=UTC), end.replace(tzinfo=UTC))
        out["hloc"][inst.ticker] = [[float(h), float(lo), float(o), float(c)]
                                    for _, o, h, lo, c, _ in bars]
        out["vl"][inst.ticker] = [v for *_, v in bars]
        out["xSeries"][inst.ticker] = [int(t.timestamp()) for t, *_ in bars]
        out["info"][inst.ticker] = {"currency": inst.currency,
                                    "min_step": str(inst.min_step), "lot": str(inst.lot)}
    return out


def all_securities(acc: SandboxAccount, params: dict[str, Any], now: datetime) -> Any:
    """``getAllSecurities``: paged, ``eq`` filters; ``attributes`` is a JSON *string*."""
    filters = ((params.get("filter") or {}).get("filters") or []) \
        if isinstance(params.get("filter"), dict) else []
    rows = []
    for inst in CATALOGUE:
        row = {"ticker": inst.ticker, "name": inst.name, "issue_nb": inst.isin,
               "face_curr_c": inst.currency, "mkt_short_code": inst.market,
               "mkt_id": inst.market_id, "lot_size_q": str(inst.lot),
               "step_price": str(inst.min_step), "instr_type_c": inst.instr_type,
               "instr_kind_c": inst.instr_kind, "istrade": 1, "sector_code": "0",
               "attributes": json.dumps({"CntryOfRisk": inst.isin[:2]})}
        if all(isinstance(f, dict) and f.get("operator", "eq") == "eq"
               and str(row.get(str(f.get("field")))) == str(f.get("value")) for f in filters):
            rows.append(row)
    take = int(params.get("take") or 100)
    skip = int(params.get("skip") or 0)
    return {"total": len(rows), "securities": rows[skip:skip + take]}


def user_info(acc: SandboxAccount, params: dict[str, Any], now: datetime) -> Any:
    """``GetAllUserTexInfo``."""
    return {"userInfo": {"id": 1, "login": "sandbox", "f": "Sandbox", "i": "Account",
                         "client_id": 1, "mode": "sandbox", "reception": 35}}


def _static(answer: Any) -> Handler:
    def handler(acc: SandboxAccount, params: dict[str, Any], now: datetime) -> Any:
        return answer
    return handler


def opq(acc: SandboxAccount, params: dict[str, Any], now: datetime) -> Any:
    """``getOPQ``: orders, portfolio and markets in one answer."""
    return {"OPQ": {"ps": position_json(acc, {}, now)["result"]["ps"],
                    "orders": notify_orders(acc, {"active_only": 0}, now)["result"]["orders"],
                    "markets": market_status(acc, {}, now)["result"]["markets"]}}


def ready_list(acc: SandboxAccount, params: dict[str, Any], now: datetime) -> Any:
    """``getReadyList``."""
    return {"markets": {code: [i.ticker for i in CATALOGUE if i.market == code]
                        for code, _, _ in MARKETS}}


def stock_data(acc: SandboxAccount, params: dict[str, Any], now: datetime) -> Any:
    """``getStockData``."""
    inst = find(str(params.get("ticker", "")))
    if inst is None:
        raise SandboxReject(f"Security {params.get('ticker')!r} not found", 18)
    return {"ticker": inst.ticker, "name": inst.name, "isin": inst.isin,
            "quotes": _quote(acc, inst, now)}


def submit_cps(acc: SandboxAccount, params: dict[str, Any], now: datetime) -> Any:
    """``submitCps``: recorded as a draft client request."""
    with acc.lock:
        request_id = acc._next("next_flow_id")
        acc.state.setdefault("cps", []).append({
            "id": request_id, "type_doc_id": params.get("type_doc_id"),
            "date_crt": broker_time(now), "status_c": 0,
            "params": {k: v for k, v in params.items() if k != "type_doc_id"}})
        acc.save()
    return {"id": request_id, "status": 0}


def broker_report(acc: SandboxAccount, params: dict[str, Any], now: datetime) -> Any:
    """``getBrokerReport``: the requested part (commissions from the trade log)."""
    part = str(params.get("type", ""))
    with acc.lock:
        rows = [{"trade_id": t["id"], "sum": t.get("_fee", t.get("commission")),
                 "currency": t["curr_c"]}
                for t in acc.state["trades"]] if part == "commissions" else []
    return {"report": {part: rows}}


def planned_corp_actions(acc: SandboxAccount, params: dict[str, Any], now: datetime) -> Any:
    """``getPlannedCorpActions``: a top-level array (the list quirk)."""
    return []


# getTopSecurities: the markets of each exchange, and the (type, kinds) of each type.
TOP_MARKETS: dict[str, tuple[str, ...]] = {"usa": ("FIX",), "europe": ("EU",),
                                           "kazakhstan": ("KASE",), "ukraine": ("UFOUND",),
                                           "currencies": ()}
TOP_TYPES: dict[str, tuple[int, tuple[int, ...]]] = {
    "stocks": (1, (1, 2)), "funds": (1, (7,)), "bonds": (2, ()), "futures": (3, ()),
    "indexes": (5, ())}


def top_securities(acc: SandboxAccount, params: dict[str, Any], now: datetime) -> Any:
    """``getTopSecurities`` (public): the catalogue's instruments of that type on that
    exchange; ``gainers`` 1 orders them by their change over a year, 0 keeps the
    catalogue's order (the sandbox has no volumes)."""
    markets = TOP_MARKETS.get(str(params.get("exchange") or "").lower())
    if markets is None:
        raise SandboxReject("Exchange is missing", 5)
    wanted = TOP_TYPES.get(str(params.get("type") or "stocks").lower())
    if wanted is None:
        raise SandboxReject("Type is missing", 5)
    limit = params.get("limit", 10)
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise SandboxReject(f"Invalid limit {limit!r}", 2)
    found = [i for i in CATALOGUE if i.market in markets and i.instr_type == wanted[0]
             and (not wanted[1] or i.instr_kind in wanted[1])]
    if params.get("gainers") in (1, "1", True):
        year_ago = now - timedelta(days=365)
        found.sort(key=lambda i: acc.market.close(i, year_ago) / acc.market.close(i, now))
    return {"tickers": [i.ticker for i in found][:limit]}


SIGNED: dict[str, Handler] = {
    "GetAllUserTexInfo": user_info,
    "getOPQ": opq,
    "getPositionJson": position_json,
    "getStockQuotesJson": stock_quotes,
    "putTradeOrder": put_trade_order,
    "delTradeOrder": del_trade_order,
    "getNotifyOrderJson": notify_orders,
    "getOrdersHistory": orders_history,
    "getTradesHistory": trades_history,
    "getUserCashFlows": user_cash_flows,
    "getClientCpsHistory": cps_history,
    "getSecurityInfo": security_info,
    "getMarketStatus": market_status,
    "getCrossRatesForDate": cross_rates,
    "getAllSecurities": all_securities,
    "getHloc": hloc,
    "getPlannedCorpActions": planned_corp_actions,
    "getBrokerReport": broker_report,
    "getReadyList": ready_list,
    "getStockData": stock_data,
    "submitCps": submit_cps,
    # Commands the SDK wraps that the daemon never uses: accepted with a fixed answer.
    "getSecuritySessions": _static({"sessions": []}),
    "getOptionsByMktNameAndBaseAsset": _static([]),
    "getNews": _static([]),
    "getAlertsList": _static({"alerts": []}),
    "addPriceAlert": _static({"result": "ok"}),
    "getCpsFiles": _static({"files": []}),
    "putStopLoss": _static({"result": "ok"}),
    "GetListTariffs": _static({"tariffs": [{"id": 1, "name": "Sandbox"}]}),
    "checkStep": _static({"not_completed": []}),
    "getAnketaFields": _static({"fields": []}),
}
PUBLIC: dict[str, Handler] = {
    "tickerFinder": ticker_finder,
    "getHloc": hloc,
    "getTopSecurities": top_securities,
}
MUTATING = frozenset({"putTradeOrder", "delTradeOrder", "submitCps"})
