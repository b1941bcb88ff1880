"""The planner's wait for its inputs: a plan is not made while a held security has no
price yet (the history sync has not stored it) or no imported trade history (its hold
time is unknown: the trade sync has not covered it yet). The planner says what it waits
for and re-plans, for at most ``planner_price_wait_s``; after that it plans without the
missing prices, and with the sells of a holding whose hold time is unknown blocked."""

from __future__ import annotations

from dataclasses import dataclass

from arduino_trader.domain.planner.models import PlanInput
from arduino_trader.domain.planner.readiness import missing_prices, missing_trade_history


@dataclass(frozen=True)
class Missing:
    """The held symbols a plan waits for, per input."""

    prices: tuple[str, ...] = ()
    trade_history: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.prices or self.trade_history)

    def symbols(self) -> list[str]:
        """Every symbol waited for (the log's ``waiting_for``)."""
        return sorted(set(self.prices) | set(self.trade_history))

    def reason(self) -> str:
        """The summary's reason while waiting."""
        parts = []
        if self.prices:
            parts.append(f"prices of held {', '.join(self.prices)} (history not stored yet)")
        if self.trade_history:
            parts.append(f"the trade history of held {', '.join(self.trade_history)} (not "
                         "imported from the broker yet: hold time unknown)")
        return f"waiting for {'; '.join(parts)}; re-planning when they arrive"


class InputWait:
    """Remembers since when the planner waits and which missing inputs it gave up on."""

    def __init__(self) -> None:
        self._since: float | None = None
        self._given_up = Missing()

    def waiting_for(self, inp: PlanInput, now: float, max_wait_s: float) -> Missing:
        """What to wait for now (empty: plan). ``now`` is a monotonic time."""
        missing = Missing(missing_prices(inp), missing_trade_history(inp))
        if not missing or (set(missing.prices) <= set(self._given_up.prices) and
                           set(missing.trade_history) <= set(self._given_up.trade_history)):
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
