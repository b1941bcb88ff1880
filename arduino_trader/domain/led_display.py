"""What the board's LED matrix shows (pure): ticker text and small pixel frames.

The matrix is ``WIDTH`` x ``HEIGHT`` pixels; a frame is ``HEIGHT`` strings of ``WIDTH``
characters, ``1`` lit and ``0`` dark, top row first, so a sketch only draws what it gets.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

WIDTH = 13
HEIGHT = 8


@dataclass(frozen=True)
class TickerOptions:
    """The ``ticker_*`` display settings."""

    show_value: bool
    show_cash: bool
    show_actions: bool
    show_amounts: bool
    max_actions: int


@dataclass(frozen=True)
class TickerAction:
    """One pending recommendation."""

    side: str
    symbol: str
    value_eur: Decimal


def _eur(amount: Decimal) -> str:
    return f"EUR {amount.quantize(Decimal(1)):,}"


def ticker_text(value_eur: Decimal | None, cash_eur: Decimal | None,
                actions: list[TickerAction], options: TickerOptions) -> str:
    """One line for the scrolling ticker, parts separated by `` * ``."""
    parts: list[str] = []
    if options.show_value and value_eur is not None:
        parts.append(f"PORTFOLIO {_eur(value_eur)}")
    if options.show_cash and cash_eur is not None:
        parts.append(f"CASH {_eur(cash_eur)}")
    if options.show_actions:
        for action in actions[:options.max_actions]:
            text = f"{action.side} {action.symbol}"
            parts.append(f"{text} {_eur(action.value_eur)}" if options.show_amounts else text)
    return " * ".join(parts) if parts else "NO DATA"


def stats_frame(values: list[Decimal]) -> list[str]:
    """A column per value (the newest ``WIDTH``, oldest left), its height scaled between
    the lowest (1 pixel) and the highest (``HEIGHT`` pixels); no values: all dark."""
    recent = values[-WIDTH:]
    heights = [0] * (WIDTH - len(recent))
    if recent:
        low, high = min(recent), max(recent)
        span = high - low
        heights += [HEIGHT if span == 0 else
                    1 + int((v - low) * (HEIGHT - 1) / span) for v in recent]
    return ["".join("1" if h >= HEIGHT - row else "0" for h in heights)
            for row in range(HEIGHT)]


def portfolio_frame(weights: list[Decimal], top: int, min_cluster: int) -> list[str]:
    """The largest ``top`` holdings as clusters of lit pixels, row by row, one dark pixel
    between clusters: each gets ``min_cluster`` pixels (less only when the matrix cannot
    hold that many), and the pixels left are shared in proportion to the weights."""
    chosen = sorted((w for w in weights if w > 0), reverse=True)[:top]
    total = sum(chosen, Decimal(0))
    room = WIDTH * HEIGHT - max(len(chosen) - 1, 0)
    base = min(min_cluster, room // len(chosen)) if chosen else 0
    spare = room - base * len(chosen)
    pixels: list[str] = []
    for weight in chosen:
        if pixels:
            pixels.append("0")
        pixels.extend("1" * (base + int(weight / total * spare)))
    cells = (pixels + ["0"] * (WIDTH * HEIGHT))[:WIDTH * HEIGHT]
    return ["".join(cells[r * WIDTH:(r + 1) * WIDTH]) for r in range(HEIGHT)]
