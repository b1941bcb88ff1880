"""The safety pipeline's vocabulary: what each layer reads (:class:`LayerContext`), what
it answers (a :class:`Rejection` or None) and the pipeline's :class:`Verdict`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from .facts import OrderIntent, SafetyFacts, SafetyLimits, TradeFact

RejectionKind = Literal["forbidden", "not_found", "invalid", "blocked", "conflict"]


@dataclass(frozen=True)
class Rejection:
    """Why an order may not go out: the layer, a stable code and a readable message."""

    layer: str
    code: str
    message: str
    kind: RejectionKind = "blocked"


@dataclass(frozen=True)
class Verdict:
    """The pipeline's answer: allowed, or the first rejection; warnings either way."""

    rejection: Rejection | None
    warnings: tuple[str, ...] = ()
    checked: tuple[str, ...] = ()

    @property
    def allowed(self) -> bool:
        """True when every layer passed."""
        return self.rejection is None


@dataclass(frozen=True)
class LayerContext:
    """One order's intent, facts and limits as every layer sees them; layers add
    warnings."""

    intent: OrderIntent
    facts: SafetyFacts
    limits: SafetyLimits
    simulate: bool
    warnings: list[str]

    def ledger(self) -> tuple[TradeFact, ...] | None:
        """Trades that count: the live ledger, or the research ledger when simulating."""
        if self.facts.trades is None:
            return None
        mode = "research" if self.simulate else "live"
        return tuple(t for t in self.facts.trades if t.mode == mode and t.order_id)


Check = Callable[[LayerContext], Rejection | None]
