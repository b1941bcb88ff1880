"""The paper account's pure accounting core (no I/O): cash per currency and positions,
fills and currency exchanges applied exactly (never borrowing), and the configured
trading fees. Its invariants are tested on their own."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from arduino_trader.domain.fx_exchange import FxPair, cash_moves
from arduino_trader.protocols.broker import Side
from arduino_trader.protocols.money import round_money

ZERO = Decimal(0)


class PaperRefusal(ValueError):
    """The paper account cannot do this (no cash, no shares)."""


@dataclass(frozen=True)
class PaperFees:
    """Configured trading costs: fixed part in EUR, variable part as a fraction."""

    fixed_eur: Decimal
    percent: Decimal

    def fee(self, value: Decimal, eur_rate: Decimal | None) -> Decimal:
        """Fee in the trade currency (fixed part converted; raw EUR when no rate)."""
        fixed = self.fixed_eur * (eur_rate if eur_rate else Decimal(1))
        return round_money(fixed + value * self.percent)


@dataclass
class PaperLedger:
    """Cash per currency and positions; applies fills exactly (pure, no I/O)."""

    cash: dict[str, Decimal] = field(default_factory=dict)
    positions: dict[str, tuple[Decimal, Decimal, str]] = field(default_factory=dict)

    def apply_fill(self, side: Side, symbol: str, currency: str, quantity: int,
                   price: Decimal, fee: Decimal) -> Decimal:
        """Book one fill; returns its value. Raises :class:`PaperRefusal`, changing nothing."""
        if quantity <= 0 or price <= 0 or fee < 0:
            raise PaperRefusal("quantity and price must be positive, fee non-negative")
        value = price * quantity
        held, avg, held_currency = self.positions.get(symbol, (ZERO, ZERO, currency))
        if held and held_currency != currency:
            raise PaperRefusal(f"{symbol} is held in {held_currency}, not {currency}")
        balance = self.cash.get(currency, ZERO)
        if side == "BUY":
            if balance < value + fee:
                raise PaperRefusal(f"insufficient {currency} cash: {balance} < {value + fee}")
            total = held + quantity
            self.positions[symbol] = (total, (avg * held + value) / total, currency)
            self.cash[currency] = balance - value - fee
        else:
            if held < quantity:
                raise PaperRefusal(f"insufficient {symbol} shares: {held} < {quantity}")
            if balance + value < fee:
                raise PaperRefusal(f"insufficient {currency} cash for the fee")
            left = held - quantity
            if left:
                self.positions[symbol] = (left, avg, currency)
            else:
                del self.positions[symbol]
            self.cash[currency] = balance + value - fee
        return value

    def apply_exchange(self, pair: FxPair, side: Side, quantity: int, price: Decimal,
                       fee: Decimal) -> Decimal:
        """Book one fill of a pair order: cash in both currencies, no position. The
        currencies that decrease must stay covered (the account never borrows); raises
        :class:`PaperRefusal`, changing nothing. Returns the value in the quote currency."""
        if quantity <= 0 or price <= 0 or fee < 0:
            raise PaperRefusal("quantity and price must be positive, fee non-negative")
        moves = cash_moves(pair, side, Decimal(quantity), price, fee)
        for currency, delta in sorted(moves.items()):
            if delta < 0 and self.cash.get(currency, ZERO) + delta < 0:
                raise PaperRefusal(f"insufficient {currency} cash: "
                                   f"{self.cash.get(currency, ZERO)} < {-delta}")
        for currency, delta in moves.items():
            self.cash[currency] = self.cash.get(currency, ZERO) + delta
        return price * quantity

    def value_by_currency(self, prices: Mapping[str, Decimal]) -> dict[str, Decimal]:
        """Cash plus positions at ``prices``, per currency."""
        totals = dict(self.cash)
        for symbol, (qty, _, currency) in self.positions.items():
            totals[currency] = totals.get(currency, ZERO) + qty * prices[symbol]
        return totals
