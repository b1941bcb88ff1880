"""EUR conversion at a record's date (the rate of that date, never today's).

One convention everywhere: ``eur_per(ccy, on)`` is the EUR value of one unit of ``ccy``;
EUR value = amount × eur_per. EUR converts to itself exactly; any other currency needs a
rate, and a missing rate is :class:`MissingRate`, never 1:1.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Protocol

from arduino_trader.protocols.money import CENT, round_money

EUR = "EUR"
ONE = Decimal(1)


class MissingRate(LookupError):
    """No usable rate for a currency at a date: money-moving decisions must stop."""

    def __init__(self, currency: str, on: date | None, stale_since: date | None = None,
                 max_age_days: int | None = None) -> None:
        when = on.isoformat() if on else "now"
        super().__init__(
            f"no EUR rate for {currency} at {when}" if stale_since is None else
            f"no current EUR rate for {currency}: the newest is of {stale_since.isoformat()},"
            f" older than {max_age_days} days (market_data.fx_max_age_days)")
        self.currency = currency
        self.on = on


class Rates(Protocol):
    """Anything that answers the EUR value of one unit of a currency."""

    def eur_per(self, currency: str, on: date | None = None) -> Decimal:
        """EUR per unit of ``currency`` at ``on`` (None = latest); raises MissingRate."""
        ...


@dataclass(frozen=True)
class RateTable:
    """Rates keyed by (currency, date) with a bounded look-back for weekends/holidays.

    ``latest`` holds current rates used when ``on`` is None. One age rule for both: a
    rate older than ``max_age_days`` before the asked date — ``today`` for a current
    rate, when the table knows it and the day of each latest rate — is not used.
    """

    by_date: Mapping[tuple[str, date], Decimal] = field(default_factory=dict)
    latest: Mapping[str, Decimal] = field(default_factory=dict)
    max_age_days: int = 5
    latest_day: Mapping[str, date] = field(default_factory=dict)
    today: date | None = None

    def __post_init__(self) -> None:
        for where, rate in [*self.by_date.items(), *self.latest.items()]:
            if not isinstance(rate, Decimal) or not rate.is_finite() or rate <= 0:
                raise ValueError(f"rate for {where} must be a positive Decimal, got {rate!r}")

    @classmethod
    def from_units_per_eur(cls, latest: Mapping[str, Decimal],
                           by_date: Mapping[tuple[str, date], Decimal] | None = None,
                           max_age_days: int = 5) -> RateTable:
        """Build from broker-style quotes (units of the currency per 1 EUR)."""
        return cls(by_date={k: ONE / v for k, v in (by_date or {}).items()},
                   latest={k: ONE / v for k, v in latest.items()},
                   max_age_days=max_age_days)

    def current(self) -> dict[str, Decimal]:
        """Every latest rate the age rule still allows, by currency."""
        out = {}
        for currency in self.latest:
            try:
                out[currency] = self.eur_per(currency)
            except MissingRate:
                continue
        return out

    def eur_per(self, currency: str, on: date | None = None) -> Decimal:
        """EUR value of one unit of ``currency`` at ``on`` (latest when None)."""
        if currency == EUR:
            return ONE
        if on is None:
            rate, day = self.latest.get(currency), self.latest_day.get(currency)
            if rate is None:
                raise MissingRate(currency, None)
            if self.today is not None and day is not None and \
                    (self.today - day).days > self.max_age_days:
                raise MissingRate(currency, None, day, self.max_age_days)
            return rate
        for back in range(self.max_age_days + 1):
            rate = self.by_date.get((currency, on - timedelta(days=back)))
            if rate is not None:
                return rate
        raise MissingRate(currency, on)


def to_eur(amount: Decimal, currency: str, on: date | None, rates: Rates) -> Decimal:
    """``amount`` of ``currency`` in EUR at ``on``, rounded to the cent (half-even)."""
    return round_money(amount * rates.eur_per(currency, on))


def convert(amount: Decimal, source: str, target: str, on: date | None, rates: Rates, *,
            round_up: bool = False) -> Decimal:
    """``amount`` of ``source`` expressed in ``target`` (through EUR), to the cent.

    Rounds down by default (what an exchange yields) or up with ``round_up`` (what must
    be sold to obtain at least ``amount``).
    """
    if source == target:
        return amount.quantize(CENT, rounding=ROUND_CEILING if round_up else ROUND_FLOOR)
    value = amount * rates.eur_per(source, on) / rates.eur_per(target, on)
    return value.quantize(CENT, rounding=ROUND_CEILING if round_up else ROUND_FLOOR)
