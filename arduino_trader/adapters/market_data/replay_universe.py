"""Which columns of a replay price file are tradable securities, and what each one is.

A price file may hold any tickers. Each column is, in this order of precedence:
- an index (``SP500``): the benchmark, never a holding;
- dropped, with the reason named: no positive close at all (an empty column or a column of
  zeros), or a currency without a configured FX rate (``market_data.replay_fx_rates``);
- a security described by the universe file (the bundled directory by default, or the
  owner's ``--universe`` file), matched on its ``yahoo_symbol`` (or ``ticker``) column;
- otherwise a security with the stated defaults: symbol ``<TICKER>.US``, name = ticker,
  the replay's default currency (USD), no country or industry, and a synthetic ISIN
  ``QZ…`` (``QZ`` is a user-assigned ISO 3166 code, never a real issuer's country) derived
  from the ticker, so every run gives the same ISIN.

The venue defaults to the NYSE (XNYS) for every security: the replay publishes each close
at New York's 16:00, so its market hours are New York's. A universe file may name another
``mic`` (or an ``exchange`` the calendars know, e.g. ``XETRA``); that venue's hours then
apply to its orders.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from arduino_trader.domain.universe import is_valid_isin, isin_check_digit, product_type_for
from arduino_trader.protocols.market_data import MalformedPayload, SecurityInfo

from .calendars import EXCHANGES

INDEX_COLUMNS: frozenset[str] = frozenset({"SP500"})
"""Price columns that are an index (a benchmark), never a holding."""
SYNTHETIC_ISIN_PREFIX = "QZ"
DEFAULT_MIC, DEFAULT_EXCHANGE = "XNYS", "NYSE"
_CURRENCY = re.compile(r"^[A-Z]{3}$")
_KEY_COLUMNS = ("yahoo_symbol", "ticker")
_KNOWN_COLUMNS = frozenset({"isin", "symbol", "yahoo_symbol", "ticker", "name", "exchange",
                            "mic", "country", "industry", "currency"})


@dataclass(frozen=True)
class ReplayUniverse:
    """The tradable securities of a price file, the index columns, and every other column
    with the reason it was dropped."""

    securities: tuple[SecurityInfo, ...]
    indexes: tuple[str, ...] = ()
    dropped: dict[str, str] = field(default_factory=dict)


def synthetic_isin(ticker: str) -> str:
    """A valid, deterministic ISIN for a ticker no universe file describes: ``QZ``, the
    ticker's letters and digits padded with ``0`` (a hash when longer than 9), and the
    check digit."""
    body = re.sub(r"[^A-Z0-9]", "", ticker.upper())
    if not body or len(body) > 9 or body != ticker.upper():
        body = hashlib.sha256(ticker.upper().encode()).hexdigest().upper()[:9]
    body = SYNTHETIC_ISIN_PREFIX + body.ljust(9, "0")
    return body + str(isin_check_digit(body))


def read_universe_file(text: str, source: str = "universe file") -> list[SecurityInfo]:
    """Parse a universe CSV: one row per ticker, keyed by ``yahoo_symbol`` or ``ticker``
    (the price file's column name); ``name``, ``currency``, ``country``, ``industry``,
    ``exchange``, ``mic``, ``isin`` and ``symbol`` are optional. A missing key column, a
    repeated ticker, a malformed currency or ISIN raises :class:`MalformedPayload` naming
    the line."""
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip().lower() for h in (reader.fieldnames or [])]
    key = next((k for k in _KEY_COLUMNS if k in header), None)
    if key is None:
        raise MalformedPayload(f"{source}: no 'ticker' or 'yahoo_symbol' column "
                               f"(columns: {', '.join(header) or 'none'})")
    unknown = sorted(set(header) - _KNOWN_COLUMNS)
    if unknown:
        raise MalformedPayload(f"{source}: unknown column(s) {', '.join(unknown)} (known: "
                               f"{', '.join(sorted(_KNOWN_COLUMNS))})")
    out: list[SecurityInfo] = []
    seen: set[str] = set()
    for line, raw in enumerate(reader, start=2):
        if None in raw:  # DictReader keeps the cells beyond the header under None
            raise MalformedPayload(f"{source} line {line}: more cells than the header has "
                                   "columns")
        row = {(k or "").strip().lower(): (v or "").strip() for k, v in raw.items()}
        ticker = row.get(key, "").upper()
        if not ticker:
            raise MalformedPayload(f"{source} line {line}: empty {key}")
        if ticker in seen:
            raise MalformedPayload(f"{source} line {line}: {ticker} is listed twice")
        seen.add(ticker)
        currency = (row.get("currency") or "USD").upper()
        if not _CURRENCY.match(currency):
            raise MalformedPayload(f"{source} line {line}: currency {currency!r} is not a "
                                   "three-letter code")
        isin = row.get("isin", "").upper() or synthetic_isin(ticker)
        if not is_valid_isin(isin):
            raise MalformedPayload(f"{source} line {line}: {isin!r} is not a valid ISIN")
        exchange, mic = _venue(row.get("exchange", ""), row.get("mic", "").upper())
        out.append(SecurityInfo(
            symbol=(row.get("symbol") or f"{ticker}.US").upper(), yahoo_symbol=ticker,
            name=row.get("name") or ticker, currency=currency, isin=isin,
            exchange=exchange, mic=mic,
            country=row.get("country") or None, industry=row.get("industry") or None,
            product_type="EQUITY"))
    return out


def _venue(exchange: str, mic: str) -> tuple[str | None, str | None]:
    """``(exchange, mic)`` of a universe row: as given, the MIC of an exchange the
    calendars know by name, or the NYSE when neither is given."""
    if not exchange and not mic:
        return DEFAULT_EXCHANGE, DEFAULT_MIC
    if not mic:
        named = {e.name.upper(): e.mic for e in EXCHANGES.values()}
        mic = named.get(exchange.upper(), exchange.upper() if exchange.upper() in EXCHANGES
                        else "")
    return exchange or None, mic or None


def default_security(ticker: str, currency: str) -> SecurityInfo:
    """The stated defaults for a ticker no universe file describes."""
    return SecurityInfo(symbol=f"{ticker}.US", yahoo_symbol=ticker, name=ticker,
                        currency=currency, isin=synthetic_isin(ticker),
                        exchange=DEFAULT_EXCHANGE, mic=DEFAULT_MIC,
                        product_type=product_type_for("EQUITY"))


def build_universe(columns: Mapping[str, Sequence[float | None]],
                   directory: Sequence[SecurityInfo], currency: str,
                   rated: frozenset[str],
                   index_columns: frozenset[str] = INDEX_COLUMNS) -> ReplayUniverse:
    """The securities of ``columns`` (ticker → closes): described by ``directory`` where
    it has the ticker, else :func:`default_security` in ``currency``; ``rated`` are the
    currencies with an FX rate (EUR always has one); ``index_columns`` are benchmarks."""
    described = {(i.yahoo_symbol or i.symbol).upper(): i for i in directory}
    order = {t: n for n, t in enumerate(described)}
    securities: list[SecurityInfo] = []
    indexes: list[str] = []
    dropped: dict[str, str] = {}
    for ticker, closes in columns.items():
        if ticker in index_columns:
            indexes.append(ticker)
            continue
        if not any(c is not None and c > 0 for c in closes):
            dropped[ticker] = "no positive close (an empty column or a column of zeros)"
            continue
        info = described.get(ticker) or default_security(ticker, currency)
        if info.currency != "EUR" and info.currency not in rated:
            dropped[ticker] = (f"no FX rate for {info.currency} "
                               "(market_data.replay_fx_rates)")
            continue
        securities.append(info)
    # the directory's order first (the bundled universe keeps its order), then the file's
    securities.sort(key=lambda i: order.get((i.yahoo_symbol or "").upper(), len(order)))
    return ReplayUniverse(tuple(securities), tuple(indexes), dropped)


__all__ = ["INDEX_COLUMNS", "ReplayUniverse", "build_universe", "default_security",
           "read_universe_file", "synthetic_isin"]
