"""The replay's data: the bundled files, the close-price table and demo-universe CSV
parsers, the FX setting, and the re-dating of a table onto recent sessions."""

from __future__ import annotations

import csv
import gzip
import io
import math
from array import array
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import IO

from arduino_trader.protocols.market_data import (
    MalformedPayload,
    MarketDataUnavailable,
)

from .replay_columns import MISSING, Closes

PRICES_FILE = "sp500_20_stocks_daily_close.csv.gz"
INDEX_FILE = "sp500_index_daily_close.csv.gz"
UNIVERSE_FILE = "demo_universe.csv"


def bundled_path(name: str) -> Path:
    """Path of a file shipped in ``arduino_trader/data``."""
    return Path(str(resources.files("arduino_trader").joinpath("data", name)))


@dataclass(frozen=True)
class CloseTable:
    """Daily closes: the days in order, and per ticker one close (or None) per day."""

    days: tuple[date, ...]
    closes: dict[str, Closes]


def read_close_table(text: str | Iterable[str]) -> CloseTable:
    """Parse ``Date,T1,T2,...`` CSV text or lines (one pass); empty and NaN cells are
    missing closes, an infinite one is refused with its line."""
    reader = csv.reader(io.StringIO(text) if isinstance(text, str) else text)
    try:
        header = next(reader)
    except StopIteration:
        raise MalformedPayload("price file is empty") from None
    if not header or header[0].strip().lower() != "date" or len(header) < 2:
        raise MalformedPayload(f"price file header must start with Date: {header[:3]}")
    tickers = [h.strip().upper() for h in header[1:]]
    days: list[date] = []
    columns = [array("d") for _ in tickers]
    for line_no, row in enumerate(reader, start=2):
        if not row:
            continue
        try:
            day = date.fromisoformat(row[0])
            values = [float(v) if v.strip() else MISSING for v in row[1:len(tickers) + 1]]
        except ValueError as exc:
            raise MalformedPayload(f"price file line {line_no}: {exc}") from None
        if days and day <= days[-1]:
            raise MalformedPayload(f"price file line {line_no}: dates not increasing")
        if any(math.isinf(v) for v in values):
            raise MalformedPayload(f"price file line {line_no}: an infinite close")
        values += [MISSING] * (len(tickers) - len(values))
        days.append(day)
        for column, value in zip(columns, values, strict=True):
            column.append(value)
    return CloseTable(tuple(days), {t: Closes(c) for t, c in zip(tickers, columns, strict=True)})


def parse_fx_setting(text: str) -> dict[str, Decimal]:
    """``"USD=0.92,GBP=1.17"`` → EUR value of one unit per currency."""
    rates: dict[str, Decimal] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        code, _, value = part.partition("=")
        rate = Decimal(value.strip())
        if len(code.strip()) != 3 or not rate.is_finite() or rate <= 0:
            raise ValueError(f"bad FX entry {part!r} (want CCY=positive number)")
        rates[code.strip().upper()] = rate
    return rates


def weekdays_ending(end: date, count: int) -> tuple[date, ...]:
    """The ``count`` weekdays (Monday-Friday) ending on the last weekday on or before
    ``end``, oldest first."""
    day = end
    while day.weekday() >= 5:
        day -= timedelta(days=1)
    out: list[date] = []
    while len(out) < count:
        if day.weekday() < 5:
            out.append(day)
        day -= timedelta(days=1)
    return tuple(reversed(out))


def redate(table: CloseTable, end: date,
           sessions: Callable[[date, int], Sequence[date]] = weekdays_ending) -> CloseTable:
    """The same closes in the same order, re-dated onto the days ``sessions(end, count)``
    gives, oldest first (consecutive weekdays by default, an exchange's sessions for the
    demo): real prices, a recent calendar."""
    days = tuple(sessions(end, len(table.days)))
    if len(days) != len(table.days):
        raise ValueError(f"{len(days)} days to re-date {len(table.days)} closes onto")
    return CloseTable(days, table.closes)


def read_close_file(path: Path) -> CloseTable:
    """The close table of a price file (gzip when it ends in ``.gz``), parsed line by line
    as it is read: the file's text is never held whole (1.2 MB for the bundled set, a
    transient that stayed in the allocator's heap)."""
    try:
        lines: IO[str] = (gzip.open(path, "rt", encoding="utf-8", newline="")
                          if path.suffix == ".gz" else
                          path.open(encoding="utf-8", newline=""))
        with lines:
            return read_close_table(lines)
    except (UnicodeDecodeError, EOFError, gzip.BadGzipFile) as exc:
        raise MalformedPayload(f"{path} is not a readable price file: {exc}") from exc
    except OSError as exc:
        raise MarketDataUnavailable(f"cannot read {path}: {exc}") from exc


def merge_tables(base: CloseTable, extra: CloseTable) -> CloseTable:
    """Add ``extra``'s columns to ``base``, aligned on ``base``'s days."""
    position = {day: i for i, day in enumerate(extra.days)}
    closes = dict(base.closes)
    for ticker, column in extra.closes.items():
        closes.setdefault(ticker, Closes.of(
            column[position[d]] if d in position else None for d in base.days))
    return CloseTable(base.days, closes)
