"""The planner's wait for its inputs: a plan is not made while the account holds something
it cannot see or judge yet — a held security with no price (the history sync has not
stored it), a held security whose trade history is not imported (its hold time is
unknown), positions or cash in a currency with no FX rate yet (not valued at all), or
positions while the universe is still empty (not seeded yet). The planner says what it
waits for and re-plans, for at most ``planner_price_wait_s``; after that it plans without
the missing inputs (with the sells of a holding whose hold time is unknown blocked)."""

from __future__ import annotations

from dataclasses import dataclass, fields

from arduino_trader.domain.planner.models import PlanInput
from arduino_trader.domain.planner.readiness import missing_prices, missing_trade_history


@dataclass(frozen=True)
class Missing:
    """What a plan waits for, per input: held symbols (``prices``, ``trade_history``,
    ``universe``) or currencies (``fx_rates``)."""

    prices: tuple[str, ...] = ()
    trade_history: tuple[str, ...] = ()
    fx_rates: tuple[str, ...] = ()
    universe: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return any(getattr(self, f.name) for f in fields(self))

    def within(self, other: Missing) -> bool:
        """Whether every missing input here is also missing in ``other``."""
        return all(set(getattr(self, f.name)) <= set(getattr(other, f.name))
                   for f in fields(self))

    def symbols(self) -> list[str]:
        """Every symbol and currency waited for (the log's ``waiting_for``)."""
        return sorted({x for f in fields(self) for x in getattr(self, f.name)})

    def reason(self) -> str:
        """The summary's reason while waiting."""
        parts = []
        if self.prices:
            parts.append(f"prices of held {', '.join(self.prices)} (history not stored yet)")
        if self.trade_history:
            parts.append(f"the trade history of held {', '.join(self.trade_history)} (not "
                         "imported from the broker yet: hold time unknown)")
        if self.fx_rates:
            parts.append(f"the FX rate of {', '.join(self.fx_rates)} (positions and cash in "
                         "it cannot be valued yet)")
        if self.universe:
            parts.append(f"the universe (not seeded yet: held {', '.join(self.universe)} "
                         "would be left out)")
        return f"waiting for {'; '.join(parts)}; re-planning when they arrive"


class InputWait:
    """Remembers since when the planner waits and which missing inputs it gave up on."""

    def __init__(self) -> None:
        self._since: float | None = None
        self._given_up = Missing()

    def waiting_for(self, inp: PlanInput, now: float, max_wait_s: float,
                    unseen: Missing | None = None) -> Missing:
        """What to wait for now (empty: plan). ``now`` is a monotonic time; ``unseen`` is
        what the gatherer found in the account but could not put into ``inp`` (currencies
        without a rate, holdings outside an empty universe)."""
        seen = Missing(missing_prices(inp), missing_trade_history(inp))
        missing = seen if unseen is None else Missing(
            seen.prices, seen.trade_history, unseen.fx_rates, unseen.universe)
        if not missing or missing.within(self._given_up):
            self._since = None
            return Missing()
        if self._since is None:
            self._since = now
        if now - self._since >= max_wait_s:
            self._given_up = missing
            self._since = None
            return Missing()
        return missing


__all__ = ["InputWait", "Missing"]
