"""Graduated re-awakening and the win cooldown.

Both are state machines whose state is data: every function takes the stored state and
returns the new state with the multiplier it implies; nothing is kept in memory.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from arduino_trader.protocols.money import ZERO
from arduino_trader.protocols.satellite_records import ONE, CooldownState, ReawakeningState

STAGE_MULTIPLIERS: dict[int, Decimal] = {
    1: Decimal("0.25"), 2: Decimal("0.50"), 3: Decimal("0.75"),
}
WINS_TO_COMPLETE = 3

COOLDOWN_TRIGGER_RETURN = Decimal("0.20")
COOLDOWN_DAYS = 30
COOLDOWN_MULTIPLIER = Decimal("0.75")  # a 0.25 reduction
RECENT_RETURN_WINDOW_DAYS = 30


def reawakening_multiplier(state: ReawakeningState) -> Decimal:
    """×0.25/×0.50/×0.75 at stages 1..3; ×1 when not re-awakening."""
    return STAGE_MULTIPLIERS.get(state.stage, ONE)


def on_trade_result(state: ReawakeningState, realized_pnl: Decimal) -> ReawakeningState:
    """Advance re-awakening after a closed trade.

    A win raises the stage (wins + 1); the third consecutive win completes it (stage 0,
    ×1). A loss returns to stage 1 with no wins. A zero P&L counts as a trade only.
    Buckets not re-awakening are unchanged.
    """
    if not state.active:
        return state
    trades = state.trades + 1
    if realized_pnl > 0:
        wins = state.wins + 1
        if wins >= WINS_TO_COMPLETE:
            return ReawakeningState(stage=0, wins=wins, trades=trades)
        return ReawakeningState(stage=wins + 1, wins=wins, trades=trades)
    if realized_pnl < 0:
        return ReawakeningState(stage=1, wins=0, trades=trades)
    return ReawakeningState(stage=state.stage, wins=state.wins, trades=trades)


def flow_adjusted_return(start_value: Decimal, end_value: Decimal,
                         net_flows: Decimal) -> Decimal:
    """(V_now − net external flows − V_start) / V_start over the window; 0 if V_start ≤ 0.

    Deposits into the bucket are not gains and money moved out is not a loss.
    """
    if start_value <= 0:
        return ZERO
    return (end_value - net_flows - start_value) / start_value


@dataclass(frozen=True)
class CooldownEval:
    """The cooldown after an evaluation: new state, multiplier, whole days remaining."""

    state: CooldownState
    multiplier: Decimal
    days_remaining: int
    started: bool = False
    expired: bool = False

    @property
    def active(self) -> bool:
        """True while the cooldown reduces buys."""
        return self.multiplier < ONE


def evaluate_cooldown(state: CooldownState, now: datetime,
                      recent_return: Decimal) -> CooldownEval:
    """Apply the win cooldown: an active one (started < 30 days ago) gives ×0.75; an expired one
    is cleared; otherwise a recent return ≥ 0.20 starts one now, storing the gain."""
    duration = timedelta(days=COOLDOWN_DAYS)
    expired = False
    if state.started_at is not None:
        elapsed = now - state.started_at
        if elapsed < duration:
            remaining = duration - elapsed
            return CooldownEval(state, COOLDOWN_MULTIPLIER, remaining.days)
        expired = True
    if recent_return >= COOLDOWN_TRIGGER_RETURN:
        started = CooldownState(started_at=now, trigger_gain=recent_return)
        return CooldownEval(started, COOLDOWN_MULTIPLIER, COOLDOWN_DAYS, started=True,
                            expired=expired)
    return CooldownEval(CooldownState(), ONE, 0, expired=expired)
