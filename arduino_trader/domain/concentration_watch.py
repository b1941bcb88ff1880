"""Which concentration alerts to announce: once per change of state, not on every check.

An alert's state is its level: 1 early warning (at the alert threshold), 2 critical
(within 10 % of the hard limit), 3 at or over the hard limit (needs action). A check
announces only the alerts whose level changed since the previous check, including those
that cleared (level 0); an unchanged alert stays quiet, acknowledged or not.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from .allocation import ConcentrationAlert

AlertKey = tuple[str, str]  # (type, name)
CLEARED = 0
LEVEL_NAMES = {0: "cleared", 1: "warning", 2: "critical", 3: "over_limit"}


def level_of(alert: ConcentrationAlert) -> int:
    """1 warning, 2 critical, 3 at or over the hard limit."""
    if alert.needs_action:
        return 3
    return 2 if alert.severity == "critical" else 1


@dataclass(frozen=True)
class Transition:
    """One alert whose level changed; ``alert`` is None when it cleared."""

    key: AlertKey
    previous: int
    level: int
    alert: ConcentrationAlert | None

    @property
    def log_level(self) -> str:
        """``error`` only when the owner must act; ``warning`` for early notice and
        ``info`` when an alert clears or eases."""
        if self.level == 3:
            return "error"
        return "warning" if self.level > self.previous else "info"


def transitions(known: Mapping[AlertKey, int],
                alerts: Sequence[ConcentrationAlert]) -> list[Transition]:
    """The changes from the ``known`` levels to the levels of ``alerts``, sorted by key."""
    now = {(a.type, a.name): a for a in alerts}
    out = [Transition(key, known.get(key, CLEARED), level_of(alert), alert)
           for key, alert in now.items() if level_of(alert) != known.get(key, CLEARED)]
    out += [Transition(key, level, CLEARED, None)
            for key, level in known.items() if key not in now]
    return sorted(out, key=lambda t: t.key)
