"""The planner's wait for prices: a plan whose held securities have no price yet (the
history sync has not stored them) is not made; the planner says what it waits for and
re-plans, for at most ``planner_price_wait_s``, after which it plans without them."""

from __future__ import annotations

from arduino_trader.domain.planner.models import PlanInput
from arduino_trader.domain.planner.readiness import missing_prices


class PriceWait:
    """Remembers since when the planner waits and which missing prices it gave up on."""

    def __init__(self) -> None:
        self._since: float | None = None
        self._given_up: frozenset[str] = frozenset()

    def waiting_for(self, inp: PlanInput, now: float, max_wait_s: float) -> tuple[str, ...]:
        """The held symbols to wait for now (empty: plan). ``now`` is a monotonic time."""
        missing = missing_prices(inp)
        if not missing or set(missing) <= self._given_up:
            self._since = None
            return ()
        if self._since is None:
            self._since = now
        if now - self._since >= max_wait_s:
            self._given_up = frozenset(missing)
            self._since = None
            return ()
        return missing


def waiting_reason(symbols: tuple[str, ...]) -> str:
    """The summary's reason while waiting."""
    return (f"waiting for prices of held {', '.join(symbols)} (history not stored yet); "
            "re-planning when they arrive")


__all__ = ["PriceWait", "waiting_reason"]
