"""Stored FX rates as a :class:`RateTable` under the one age rule: every rate by day
for dated records, the newest of each currency (with its day) for current valuations."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from arduino_trader.domain.cash_flows.fx import RateTable
from arduino_trader.protocols.store import Database

__all__ = ["load_latest_rates", "load_rates"]


def load_rates(db: Database, max_age_days: int = 5,
               today: date | None = None) -> RateTable:
    """Every stored FX rate (EUR per unit) by (currency, day), plus the newest per
    currency as ``latest``; one age rule (``max_age_days``, from ``today`` for ``latest``:
    the caller passes ``market_data.fx_max_age_days`` and its clock's day)."""
    rows = db.fetch_all(
        "SELECT currency, day, eur_per FROM fx_rates ORDER BY day, fetched_at, source")
    by_date: dict[tuple[str, date], Decimal] = {}
    latest: dict[str, Decimal] = {}
    days: dict[str, date] = {}
    for r in rows:
        rate = Decimal(r["eur_per"])
        if not rate.is_finite() or rate <= 0:
            continue
        day = date.fromisoformat(r["day"])
        by_date[(r["currency"], day)] = latest[r["currency"]] = rate
        days[r["currency"]] = day
    return RateTable(by_date=by_date, latest=latest, max_age_days=max_age_days,
                     latest_day=days, today=today)


def load_latest_rates(db: Database, max_age_days: int = 5,
                      today: date | None = None) -> RateTable:
    """:func:`load_rates` for callers that value at today's rates (``on=None``): only the
    newest rate of each currency is read, not the whole rate history, which grows by a
    row per currency and day. Per currency, its newest day is found on the primary-key
    index and only that day's rows (one per source) are ordered: the work does not grow
    with the history (ordering every row of the currency for every row of the table took
    2.6 ms a call after ten simulated years)."""
    rows = db.fetch_all(
        "SELECT f.currency, f.eur_per, f.day FROM (SELECT DISTINCT currency FROM fx_rates) c "
        "JOIN fx_rates f ON f.rowid = (SELECT g.rowid FROM fx_rates g "
        "WHERE g.currency = c.currency AND g.day = (SELECT MAX(m.day) FROM fx_rates m "
        "WHERE m.currency = c.currency) ORDER BY g.fetched_at DESC, g.source DESC LIMIT 1)")
    latest = {r["currency"]: Decimal(r["eur_per"]) for r in rows}
    if not all(rate.is_finite() and rate > 0 for rate in latest.values()):
        return load_rates(db, max_age_days, today)  # the newest is unusable
    return RateTable(latest=latest, max_age_days=max_age_days, today=today,
                     latest_day={r["currency"]: date.fromisoformat(r["day"]) for r in rows})
