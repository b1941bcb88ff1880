"""Which screened securities the monthly discovery adds or proposes (pure; no I/O).

A candidate comes from a screen (the broker's top lists per exchange, or the market-data
source's screen where the broker gives none). It is kept when its issuer's region is one
of the configured geographies, it is listed on one of the configured broker exchanges
and its mean daily volume (when the source knows it) reaches the minimum. Kept
candidates are scored by the universe scorer; those at or above the threshold are added
(or proposed for review), best first, until the month's cap is used up.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from .analytics import region_of

GEOGRAPHIES: tuple[str, ...] = ("EU", "US", "ASIA", "OTHER")
EXCHANGES: tuple[str, ...] = ("usa", "europe", "kazakhstan", "ukraine")
VOLUME_SESSIONS = 20  # sessions the mean daily volume is taken over

# The broker's market codes (``tickerFinder``'s ``mkt``) per screening exchange.
_EXCHANGE_OF_MARKET: dict[str, str] = {"FIX": "usa", "EU": "europe", "KASE": "kazakhstan",
                                       "UFOUND": "ukraine"}
# Venues (MIC) per screening exchange, for candidates the source screened.
_EUROPE_MICS = frozenset({"XETR", "XPAR", "XAMS", "XMIL", "XCSE", "XLON", "XATH", "XSWX",
                          "XMAD", "XBRU", "XLIS", "XSTO", "XHEL", "XOSL", "XDUB", "XWBO"})
_US_MICS = frozenset({"XNYS", "XNAS", "ARCX", "BATS", "XASE"})


class DiscoveryConfigError(ValueError):
    """A ``security_discovery_*`` setting this job cannot use; the message names it."""


def parse_geographies(text: str) -> frozenset[str]:
    """``security_discovery_geographies`` → the set of regions (refuses unknown names)."""
    names = {part.strip().upper() for part in text.split(",") if part.strip()}
    unknown = sorted(names - set(GEOGRAPHIES))
    if unknown:
        raise DiscoveryConfigError(f"security_discovery_geographies: unknown {unknown}; use "
                                   f"a comma list of {', '.join(GEOGRAPHIES)}")
    return frozenset(names)


def parse_exchanges(text: str) -> tuple[str, ...]:
    """``security_discovery_exchanges`` → exchanges in the given order, once each."""
    names: list[str] = []
    for part in text.split(","):
        name = part.strip().lower()
        if name and name not in names:
            names.append(name)
    unknown = [n for n in names if n not in EXCHANGES]
    if unknown:
        raise DiscoveryConfigError(f"security_discovery_exchanges: unknown {unknown}; use a "
                                   f"comma list of {', '.join(EXCHANGES)}")
    return tuple(names)


@dataclass(frozen=True)
class DiscoveryRules:
    """The ``security_discovery_*`` settings, parsed."""

    threshold: float
    max_per_month: int
    manual_review: bool
    geographies: frozenset[str]
    exchanges: tuple[str, ...]
    min_volume: int
    fetch_limit: int


@dataclass(frozen=True)
class Candidate:
    """One screened security, identified by the broker (ISIN, ticker, currency)."""

    isin: str
    symbol: str  # broker ticker, e.g. SAP.EU
    name: str
    currency: str
    exchange: str | None  # screening exchange it is listed on (usa, europe, ...)
    source: str  # "broker" or the market-data source's name
    country: str | None = None
    mic: str | None = None
    yahoo_symbol: str | None = None

    @property
    def region(self) -> str:
        """The issuer's region: from the country, else the ISIN's country prefix."""
        return region_of(self.country) if self.country else region_of(self.isin[:2])


def exchange_of(market: str | None = None, mic: str | None = None) -> str | None:
    """The screening exchange of a broker market code or a venue (MIC); None if neither
    is one of them."""
    if market and market.upper() in _EXCHANGE_OF_MARKET:
        return _EXCHANGE_OF_MARKET[market.upper()]
    key = (mic or "").upper()
    if key in _US_MICS:
        return "usa"
    if key in _EUROPE_MICS:
        return "europe"
    return None


def mean_volume(volumes: Sequence[float | None]) -> float | None:
    """Mean of the last :data:`VOLUME_SESSIONS` known daily volumes, oldest first; None
    when the source reports none."""
    known = [v for v in volumes if v is not None and v >= 0][-VOLUME_SESSIONS:]
    return sum(known) / len(known) if known else None


def screen_out(c: Candidate, rules: DiscoveryRules, volume: float | None = None) -> str | None:
    """Why ``c`` is left out before scoring, or None when it stays."""
    if c.region not in rules.geographies:
        return f"region {c.region} is not one of {sorted(rules.geographies)}"
    if c.exchange not in rules.exchanges:
        return f"listed on {c.exchange or 'an unscreened venue'}, not {list(rules.exchanges)}"
    if volume is not None and volume < rules.min_volume:
        return f"mean daily volume {volume:,.0f} below {rules.min_volume:,}"
    return None


Action = Literal["add", "propose", "below_threshold", "over_cap"]


@dataclass(frozen=True)
class Decision:
    """What happens to one scored candidate."""

    candidate: Candidate
    score: float
    action: Action


def decide(scored: Sequence[tuple[Candidate, float]], rules: DiscoveryRules,
           used_this_month: int) -> list[Decision]:
    """Best score first: add (or propose, with manual review) those at or above the
    threshold while the month's cap has room; the rest are below it or over the cap."""
    room = max(0, rules.max_per_month - used_this_month)
    out: list[Decision] = []
    for c, score in sorted(scored, key=lambda x: (-x[1], x[0].symbol)):
        if score < rules.threshold:
            out.append(Decision(c, score, "below_threshold"))
        elif room > 0:
            room -= 1
            out.append(Decision(c, score, "propose" if rules.manual_review else "add"))
        else:
            out.append(Decision(c, score, "over_cap"))
    return out


__all__ = ["EXCHANGES", "GEOGRAPHIES", "Candidate", "Decision", "DiscoveryConfigError",
           "DiscoveryRules", "decide", "exchange_of", "mean_volume", "parse_exchanges",
           "parse_geographies", "screen_out"]
