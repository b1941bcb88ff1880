"""Valuing the broker account in EUR, exactly.

Market value is recomputed as quantity × current price (the broker's own figure can be
wrong) and converted with ``eur_per`` (EUR value of one unit). A currency without a rate
is reported as missing: its EUR figures are None and the total is unknown — never 1:1.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal

from arduino_trader.protocols.broker import CashBalance, Position

CENT = Decimal("0.01")
REPORTING_CURRENCY = "EUR"


def eur(amount: Decimal) -> Decimal:
    """Round a EUR amount to cents (banker's rounding)."""
    return amount.quantize(CENT, rounding=ROUND_HALF_EVEN)


@dataclass(frozen=True)
class ValuedPosition:
    """A position with its EUR figures (None where the FX rate is missing)."""

    symbol: str
    isin: str | None
    quantity: Decimal
    avg_price: Decimal
    current_price: Decimal
    currency: str
    eur_per: Decimal | None
    market_value: Decimal
    market_value_eur: Decimal | None
    cost_basis_eur: Decimal | None
    unrealized_pnl_eur: Decimal | None
    unrealized_pnl_pct: float | None


@dataclass(frozen=True)
class ValuedCash:
    """Cash of one currency (rows of the same currency summed)."""

    currency: str
    amount: Decimal
    eur_per: Decimal | None
    amount_eur: Decimal | None


@dataclass(frozen=True)
class Valuation:
    """The whole account in EUR; totals are None while any rate is missing."""

    positions: tuple[ValuedPosition, ...]
    cash: tuple[ValuedCash, ...]
    missing_fx: tuple[str, ...]
    invested_eur: Decimal | None
    cash_eur: Decimal | None
    unrealized_pnl_eur: Decimal | None

    @property
    def total_eur(self) -> Decimal | None:
        """Positions + cash in EUR, or None when a rate is missing."""
        if self.invested_eur is None or self.cash_eur is None:
            return None
        return self.invested_eur + self.cash_eur

    @property
    def negative_cash(self) -> dict[str, Decimal]:
        """Currencies whose balance is below zero."""
        return {c.currency: c.amount for c in self.cash if c.amount < 0}


def rate_for(currency: str, eur_per: Mapping[str, Decimal]) -> Decimal | None:
    """The EUR value of one unit: 1 for EUR itself, the stored rate, or None."""
    if currency == REPORTING_CURRENCY:
        return Decimal(1)
    rate = eur_per.get(currency)
    return rate if rate is not None and rate > 0 else None


def value_position(position: Position, isin: str | None,
                   eur_per: Mapping[str, Decimal]) -> ValuedPosition:
    """One position in EUR."""
    rate = rate_for(position.currency, eur_per)
    value = position.quantity * position.market_price
    cost = position.quantity * position.avg_price
    value_eur = None if rate is None else eur(value * rate)
    cost_eur = None if rate is None else eur(cost * rate)
    pnl = None if value_eur is None or cost_eur is None else value_eur - cost_eur
    pct = float((value - cost) / cost * 100) if cost > 0 else None
    return ValuedPosition(position.symbol, isin, position.quantity, position.avg_price,
                          position.market_price, position.currency, rate, value, value_eur,
                          cost_eur, pnl, pct)


def sum_cash(rows: Sequence[CashBalance]) -> dict[str, Decimal]:
    """Cash per currency (a currency may come in several rows)."""
    out: dict[str, Decimal] = {}
    for row in rows:
        out[row.currency] = out.get(row.currency, Decimal(0)) + row.amount
    return out


def value_account(positions: Sequence[Position], cash: Sequence[CashBalance],
                  eur_per: Mapping[str, Decimal], isins: Mapping[str, str]) -> Valuation:
    """Every position and cash balance in EUR; ``isins`` maps broker symbols to ISINs."""
    valued = tuple(value_position(p, isins.get(p.symbol), eur_per) for p in positions)
    balances = tuple(
        ValuedCash(ccy, amount, rate_for(ccy, eur_per),
                   None if rate_for(ccy, eur_per) is None
                   else eur(amount * (rate_for(ccy, eur_per) or Decimal(0))))
        for ccy, amount in sorted(sum_cash(cash).items()))
    missing = tuple(sorted({p.currency for p in valued if p.eur_per is None}
                           | {c.currency for c in balances if c.eur_per is None}))
    invested = None if any(p.market_value_eur is None for p in valued) else \
        sum((p.market_value_eur or Decimal(0) for p in valued), Decimal(0))
    cash_eur = None if any(c.amount_eur is None for c in balances) else \
        sum((c.amount_eur or Decimal(0) for c in balances), Decimal(0))
    pnl = None if any(p.unrealized_pnl_eur is None for p in valued) else \
        sum((p.unrealized_pnl_eur or Decimal(0) for p in valued), Decimal(0))
    return Valuation(valued, balances, missing, invested, cash_eur, pnl)
