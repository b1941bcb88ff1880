"""Transaction costs and the minimum worthwhile trade."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from arduino_trader.config.settings import Settings
from arduino_trader.protocols.money import ZERO

MAX_COST_FRACTION = Decimal("0.01")
NEVER_CHEAP_MIN_TRADE_EUR = Decimal("1000")


class CostError(ValueError):
    """Costs cannot be computed (bad settings or a missing FX rate)."""


@dataclass(frozen=True)
class CostModel:
    """Fixed fee in EUR plus a fraction of the traded value (a fraction, not a percent)."""

    fixed_eur: Decimal
    fraction: Decimal

    def __post_init__(self) -> None:
        if self.fixed_eur < 0:
            raise CostError(f"fixed fee must be >= 0, got {self.fixed_eur}")
        if not ZERO <= self.fraction < Decimal("0.1"):
            raise CostError(f"cost fraction must be in [0, 0.1), got {self.fraction} "
                            "(0.002 means 0.2%)")

    @classmethod
    def from_settings(cls, settings: Settings) -> CostModel:
        """The configured costs (``transaction_cost_fixed`` in EUR, and
        ``transaction_cost_percent``, a fraction despite its name): the one place every
        area reads them."""
        return cls(settings.typed.transaction_cost_fixed,
                   Decimal(str(settings.typed.transaction_cost_percent)))

    def commission(self, value: Decimal, rate: Decimal | None) -> Decimal:
        """Commission in the trade currency for a trade worth ``value`` in that currency.

        ``rate`` is units of the trade currency per 1 EUR; it converts the fixed part.
        A missing or non-positive rate is an error: costs are never guessed 1:1.
        """
        if rate is None or rate <= 0:
            raise CostError("no FX rate for the trade currency: the fixed fee cannot be "
                            "converted")
        return self.fixed_eur * rate + self.fraction * abs(value)

    def commission_eur(self, value_eur: Decimal) -> Decimal:
        """Commission in EUR for a trade worth ``value_eur``."""
        return self.fixed_eur + self.fraction * abs(value_eur)

    def min_trade_eur(self, floor: Decimal) -> Decimal:
        """The minimum worthwhile trade, the one rule planner, DRIP and rebalancing apply:
        the value whose costs are at most 1 % of it, ``fixed / (1 % − fraction)`` (1000
        EUR when costs never get that low), and never below the flat ``floor`` (the
        ``min_trade_value`` setting). 2 EUR + 0.2 % → max(250, 400) = 400 EUR."""
        denominator = MAX_COST_FRACTION - self.fraction
        cost_based = self.fixed_eur / denominator if denominator > 0 \
            else NEVER_CHEAP_MIN_TRADE_EUR
        return max(cost_based, floor)

    def batch_estimate_eur(self, values_eur: list[Decimal]) -> Decimal:
        """Estimated cost of a batch: fixed × orders + fraction × Σ|value|."""
        return self.fixed_eur * len(values_eur) + self.fraction * sum(
            (abs(v) for v in values_eur), ZERO)


def minimum_trade_eur(settings: Settings) -> Decimal:
    """The minimum trade in force: the configured costs and ``min_trade_value``."""
    return CostModel.from_settings(settings).min_trade_eur(
        settings.typed.min_trade_value)
