"""The replay's close columns: 8 bytes a day, read back exactly as the file says."""

from __future__ import annotations

import gc
import gzip
import tempfile
import tracemalloc
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from arduino_trader.adapters.clock import ManualClock
from arduino_trader.adapters.market_data.replay_columns import Closes, DayWindow
from arduino_trader.adapters.market_data.replay_data import (
    PRICES_FILE,
    bundled_path,
    read_close_file,
    read_close_table,
)
from arduino_trader.adapters.market_data.replay_source import ReplaySource
from arduino_trader.protocols.market_data import (
    EmptyHistory,
    MalformedPayload,
    MarketDataUnavailable,
)

LATE = datetime(2030, 1, 1, tzinfo=UTC)
FIRST = date(2024, 1, 1)


def test_empty_and_nan_cells_are_days_without_a_close() -> None:
    table = read_close_table("Date,AAA,BBB\n2024-01-02,10.5,\n2024-01-03,nan,5\n"
                             "2024-01-04,12,NaN\n")
    assert list(table.closes["AAA"]) == [10.5, None, 12.0]
    assert list(table.closes["BBB"]) == [None, 5.0, None]
    aaa = table.closes["AAA"]
    assert (len(aaa), aaa[0], aaa[1], aaa[-1], aaa[0:2]) == (3, 10.5, None, 12.0, [10.5, None])
    assert aaa == Closes.of([10.5, None, 12.0]) and aaa != Closes.of([10.5, None, 12.5])
    for cell in ("inf", "-Infinity"):
        with pytest.raises(MalformedPayload, match="line 3: an infinite close"):
            read_close_table(f"Date,AAA\n2024-01-02,1\n2024-01-03,{cell}\n")


@pytest.mark.parametrize(("content", "error"), [
    (b"\x1f\x8b\x08\x00garbage", MalformedPayload),  # not gzip after all
    (gzip.compress(b"Date,AAA\n2024-01-02,1\n")[:-12], MalformedPayload),  # cut short
    (gzip.compress("Date,AAA\n2024-01-02,\u00e9\n".encode("latin-1")), MalformedPayload),
])
def test_an_unreadable_price_file_is_named(tmp_path: Path, content: bytes,
                                           error: type[Exception]) -> None:
    path = tmp_path / "prices.csv.gz"
    path.write_bytes(content)
    with pytest.raises(error, match=r"prices\.csv\.gz"):
        read_close_file(path)
    with pytest.raises(MarketDataUnavailable):
        read_close_file(tmp_path / "absent.csv")


def test_the_bundled_table_holds_eight_bytes_a_day() -> None:
    """~8,300 days × 20 columns: as Python floats in tuples this held ~7 MB for the
    daemon's whole life (the demo's peak), as arrays it is ~1.3 MB and the days; the
    file is parsed as it is read (its 1.2 MB of text never held whole)."""
    gc.collect()
    tracemalloc.start()
    try:
        table = read_close_file(bundled_path(PRICES_FILE))
        gc.collect()
        held, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    cells = len(table.days) * len(table.closes)
    assert cells > 160_000
    assert held < 8 * cells + 60 * len(table.days) + 100_000, f"{held / 1e6:.1f} MB held"
    assert peak < 2 * held, f"{peak / 1e6:.1f} MB at the peak of the parse"


def test_a_day_window_reads_and_bisects_its_part_only() -> None:
    days = [FIRST + timedelta(days=i) for i in range(10)]
    window = DayWindow(days, 3, 7)
    assert list(window) == days[3:7] and window[-1] == days[6] and window[1:3] == days[4:6]
    assert window.bisect_left(days[0]) == 0 and window.bisect_right(days[9]) == 4
    assert (window.bisect_left(days[5]), window.bisect_right(days[5])) == (2, 3)


cells = st.one_of(st.none(), st.floats(min_value=0.01, max_value=1e6, allow_nan=False))


@settings(max_examples=60, deadline=None)
@given(st.lists(cells, min_size=1, max_size=40), st.integers(0, 45), st.integers(0, 45))
def test_history_answers_the_file_with_or_without_gaps(
        column: list[float | None], a: int, b: int) -> None:
    """Whatever the gaps (a late start, an early end, holes inside), a history is the
    file's closes of the days asked for: the gap-free column's shared window and the
    gapped column's own index give the same answers."""
    days = [FIRST + timedelta(days=i) for i in range(len(column))]
    text = "Date,X\n" + "".join(f"{d.isoformat()},{'' if c is None else repr(c)}\n"
                                for d, c in zip(days, column, strict=True))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "prices.csv.gz"
        path.write_bytes(gzip.compress(text.encode()))
        source = ReplaySource(ManualClock(LATE), prices=path)
        start, end = FIRST + timedelta(days=min(a, b)), FIRST + timedelta(days=max(a, b))
        want = [(d, c) for d, c in zip(days, column, strict=True)
                if c is not None and start <= d <= end]
        try:
            got = [(bar.day, bar.close) for bar in source.history("X", start, end).bars]
        except EmptyHistory:
            got = []
        assert got == want
        # twice: the second answer goes through the kept window
        again = [] if not want else [
            (bar.day, bar.close) for bar in source.history("X", start, end).bars]
        assert again == want
