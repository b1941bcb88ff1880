"""The securities universe, pure: identifiers, ISIN check digits, Yahoo symbol mapping.

A security is keyed by its ISIN (check digit verified) with its broker ticker and its Yahoo
symbol beside it; adding one resolves whichever identifier is given. No I/O here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

IdentifierKind = Literal["isin", "broker_ticker", "yahoo_symbol"]

_ISIN_SHAPE = re.compile(r"^[A-Z]{2}[A-Z0-9]{9}[0-9]$")
_BROKER_TICKER = re.compile(r"^[A-Z0-9][A-Z0-9\-_/]*\.[A-Z]{2,3}$")
_YAHOO_SYMBOL = re.compile(r"^[A-Z0-9^][A-Z0-9\-_=^]*(\.[A-Z]{1,3})?$")

# Yahoo suffix of each exchange (by MIC). Empty = US listing, no suffix.
YAHOO_SUFFIX_BY_MIC: dict[str, str] = {
    "XNYS": "", "XNAS": "", "XETR": ".DE", "XPAR": ".PA", "XAMS": ".AS", "XMIL": ".MI",
    "XCSE": ".CO", "XLON": ".L", "XATH": ".AT", "XHKG": ".HK", "XSHE": ".SZ", "XSHG": ".SS",
    "XTKS": ".T", "XTSE": ".TO", "XASX": ".AX", "XSWX": ".SW", "XSES": ".SI", "XKRX": ".KS",
    "XTAI": ".TW", "XNSE": ".NS",
}
# Broker suffixes that name one venue unambiguously. `.AS` (used by the broker for
# Asian listings, but Amsterdam on Yahoo) and `.EU` (any EU venue) are NOT here.
_BROKER_SUFFIX_TO_YAHOO: dict[str, str] = {"US": "", "GR": ".AT", "JP": ".T"}

# Yahoo ``fullExchangeName`` (and common short names) → MIC.
MIC_BY_EXCHANGE_NAME: dict[str, str] = {
    "NYSE": "XNYS", "NYQ": "XNYS", "NASDAQGS": "XNAS", "NASDAQGM": "XNAS", "NASDAQCM": "XNAS",
    "NASDAQ": "XNAS", "NMS": "XNAS", "LSE": "XLON", "LONDON": "XLON", "XETRA": "XETR",
    "GER": "XETR", "PARIS": "XPAR", "AMSTERDAM": "XAMS", "MILAN": "XMIL", "COPENHAGEN": "XCSE",
    "SIX": "XSWX", "SWISS": "XSWX", "ATHENS": "XATH", "HKSE": "XHKG", "HONG KONG": "XHKG",
    "SHENZHEN": "XSHE", "SHANGHAI": "XSHG", "TOKYO": "XTKS", "TSE": "XTKS", "TORONTO": "XTSE",
    "TSX": "XTSE", "ASX": "XASX", "SES": "XSES", "SINGAPORE": "XSES", "KSC": "XKRX",
    "KRX": "XKRX", "KOREA": "XKRX", "TAIWAN": "XTAI", "TWSE": "XTAI", "NSE": "XNSE",
    # Yahoo's short exchange codes (search hits' ``exchange``)
    "AMS": "XAMS", "PAR": "XPAR", "MIL": "XMIL", "CPH": "XCSE", "EBS": "XSWX",
    "ATH": "XATH", "HKG": "XHKG", "JPX": "XTKS", "TOR": "XTSE",
}

ANALYST_SCORES: dict[str, float] = {
    "strong_buy": 1.0, "strongbuy": 1.0, "buy": 0.8, "hold": 0.5, "sell": 0.2,
    "strong_sell": 0.0, "strongsell": 0.0, "underperform": 0.2, "outperform": 0.8,
}


class IdentifierError(ValueError):
    """An identifier that cannot be used (empty, malformed, bad check digit, index)."""


@dataclass(frozen=True)
class Identifier:
    """A normalised identifier and what kind it is."""

    value: str
    kind: IdentifierKind


def isin_check_digit(body: str) -> int:
    """The ISO 6166 check digit of the first 11 characters of an ISIN (Luhn on digits)."""
    digits = "".join(str(int(ch, 36)) for ch in body.upper())
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return (10 - total % 10) % 10


def looks_like_isin(text: str) -> bool:
    """True when ``text`` has the ISIN shape (2 letters, 9 alphanumerics, 1 digit)."""
    return bool(_ISIN_SHAPE.match(text.strip().upper()))


def is_valid_isin(text: str) -> bool:
    """ISIN shape and a correct check digit."""
    value = text.strip().upper()
    return bool(_ISIN_SHAPE.match(value)) and isin_check_digit(value[:11]) == int(value[11])


def validate_isin(text: str) -> str:
    """The normalised ISIN, or :class:`IdentifierError` naming the problem."""
    value = text.strip().upper()
    if not _ISIN_SHAPE.match(value):
        raise IdentifierError(f"{text!r} is not an ISIN (2 letters, 9 characters, 1 digit)")
    expected = isin_check_digit(value[:11])
    if expected != int(value[11]):
        raise IdentifierError(f"ISIN {value} fails its check digit (expected {expected})")
    return value


def classify(identifier: str) -> Identifier:
    """Normalise and classify: ISIN (check digit verified), broker ticker, or Yahoo symbol.

    Empty input, indices (``.IDX``/``^``) and malformed text raise :class:`IdentifierError`.
    """
    value = identifier.strip().upper()
    if not value:
        raise IdentifierError("identifier is empty")
    if looks_like_isin(value):
        return Identifier(validate_isin(value), "isin")
    if value.endswith(".IDX") or value.startswith("^"):
        raise IdentifierError(f"{value} is an index, not a tradable security")
    if _BROKER_TICKER.match(value):
        return Identifier(value, "broker_ticker")
    if _YAHOO_SYMBOL.match(value):
        return Identifier(value, "yahoo_symbol")
    raise IdentifierError(f"{identifier!r} is neither an ISIN, a broker ticker nor a symbol")


def yahoo_symbol_for(ticker: str, *, mic: str | None = None, isin: str | None = None,
                     override: str | None = None) -> str | None:
    """The Yahoo symbol of a broker ticker (by exchange), or None when it needs a manual entry.

    An explicit ``override`` wins; then the exchange's Yahoo suffix (by MIC); then the
    broker suffixes that are unambiguous (``.US``, ``.GR``, ``.JP``); else the ISIN.
    A US share class is written with a dash on Yahoo (``BRK.B.US`` → ``BRK-B``).
    """
    if override:
        return override.strip().upper()
    value = ticker.strip().upper()
    base, dot, suffix = value.rpartition(".")
    if not dot:
        base, suffix = value, ""
    if mic and mic in YAHOO_SUFFIX_BY_MIC:
        yahoo_suffix = YAHOO_SUFFIX_BY_MIC[mic]
        if mic == "XHKG" and base.isdigit():
            base = base.lstrip("0").zfill(4)
        if not yahoo_suffix:  # US: only a broker suffix goes, a class letter stays
            return (base if 2 <= len(suffix) <= 3 else value).replace(".", "-")
        return base + yahoo_suffix
    if suffix in _BROKER_SUFFIX_TO_YAHOO:
        yahoo_suffix = _BROKER_SUFFIX_TO_YAHOO[suffix]
        return (base if yahoo_suffix else base.replace(".", "-")) + yahoo_suffix
    if not suffix:
        return value
    if isin and is_valid_isin(isin):
        return isin.strip().upper()
    return None


def mic_for_exchange(name: str | None) -> str | None:
    """The MIC of a Yahoo ``fullExchangeName`` (or a MIC itself); None when unknown."""
    if not name:
        return None
    key = name.strip().upper()
    if key in YAHOO_SUFFIX_BY_MIC:
        return key
    return MIC_BY_EXCHANGE_NAME.get(key)


def product_type_for(quote_type: str | None, name: str | None = None) -> str:
    """EQUITY/ETF/ETC/MUTUALFUND/UNKNOWN from Yahoo's ``quoteType`` (+ ETC name heuristic)."""
    kind = (quote_type or "").upper()
    label = (name or "").upper()
    if kind == "ETF" and any(w in label for w in (" ETC", "ETC ", "PHYSICAL", "COMMODIT")):
        return "ETC"
    if kind in ("EQUITY", "ETF", "MUTUALFUND"):
        return kind
    if kind in ("ETC", "ETN"):
        return "ETC"
    return "UNKNOWN"


def analyst_score(recommendation: str | None) -> float:
    """Recommendation key → score (strongBuy 1.0 … strongSell 0.0; unknown 0.5)."""
    key = (recommendation or "hold").strip().lower().replace(" ", "_")
    return ANALYST_SCORES.get(key, 0.5)


def upside_pct(target: float | None, price: float | None) -> float | None:
    """(target − price) / price × 100, or None when either is missing or price ≤ 0."""
    if target is None or price is None or price <= 0:
        return None
    return (target - price) / price * 100.0
