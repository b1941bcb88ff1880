"""The replay source on the bundled real data, and on small crafted files."""

from __future__ import annotations

import gzip
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from arduino_trader.adapters.clock import ManualClock
from arduino_trader.adapters.market_data.factory import build_source
from arduino_trader.adapters.market_data.replay_data import (
    bundled_path,
    parse_fx_setting,
    read_close_table,
)
from arduino_trader.adapters.market_data.replay_source import ReplaySource
from arduino_trader.config.settings import defaults
from arduino_trader.protocols.market_data import (
    EmptyHistory,
    MalformedPayload,
    MarketDataUnavailable,
    RateUnavailable,
    UnknownSymbol,
)

LATE = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def bundled() -> ReplaySource:
    return ReplaySource(ManualClock(LATE), fx={"USD": Decimal("0.92")})


def test_bundled_files_ship_with_the_licence() -> None:
    for name in ("sp500_20_stocks_daily_close.csv.gz", "sp500_index_daily_close.csv.gz",
                 "LICENSE-skfolio-BSD-3", "README.md", "demo_universe.csv"):
        assert bundled_path(name).is_file(), name
    assert "BSD 3-Clause" in bundled_path("LICENSE-skfolio-BSD-3").read_text()


def test_bundled_universe_and_range(bundled: ReplaySource) -> None:
    universe = bundled.universe()
    assert len(universe) == 20
    assert {u.yahoo_symbol for u in universe} >= {"AAPL", "MSFT", "XOM"}
    assert all(u.currency == "USD" and u.isin for u in universe)
    assert bundled.last_day == date(2022, 12, 28)


def test_quotes_after_the_data_end_carry_their_real_age(bundled: ReplaySource) -> None:
    quotes = bundled.quotes(["AAPL", "MSFT.US", "US0378331005", "NOPE"])
    assert set(quotes) == {"AAPL", "MSFT.US", "US0378331005"}
    aapl = quotes["AAPL"]
    assert aapl.price == pytest.approx(125.674) and aapl.currency == "USD"
    assert aapl.as_of.date() == date(2022, 12, 28) and aapl.source == "replay"
    assert quotes["US0378331005"].price == aapl.price
    ref = bundled.reference_time(LATE)
    assert ref < LATE and (ref - aapl.as_of).days == 1


def test_replay_position_follows_the_clock() -> None:
    clock = ManualClock(datetime(2020, 3, 16, 23, 0, tzinfo=UTC))
    src = ReplaySource(clock)
    q = src.quotes(["AAPL"])["AAPL"]
    assert q.as_of.date() == date(2020, 3, 16)
    hist = src.history("AAPL", date(2020, 3, 1), date(2021, 1, 1))
    assert hist.bars[-1].day == date(2020, 3, 16)
    assert src.reference_time(clock.now()) == clock.now()
    clock.advance(86_400 * 6)  # Sunday 22nd: the last close is Friday's
    assert src.quotes(["AAPL"])["AAPL"].as_of.date() == date(2020, 3, 20)


def test_history_range_and_errors(bundled: ReplaySource) -> None:
    hist = bundled.history("XOM", date(2022, 1, 1), date(2022, 12, 31))
    assert hist.bars[0].day == date(2022, 1, 3) and hist.bars[-1].day == date(2022, 12, 28)
    assert all(b.adj_close == b.close for b in hist.bars)
    assert len(hist.bars) == 249  # 251 NYSE sessions in 2022, data ends on the 28th
    with pytest.raises(EmptyHistory):
        bundled.history("XOM", date(1980, 1, 1), date(1989, 12, 31))
    with pytest.raises(UnknownSymbol):
        bundled.history("NOPE", date(2022, 1, 1), date(2022, 2, 1))
    with pytest.raises(MarketDataUnavailable):
        bundled.fundamentals("AAPL")
    with pytest.raises(UnknownSymbol):
        bundled.lookup("ZZZZ")
    info = bundled.lookup("us0378331005")
    assert info.symbol == "AAPL.US" and info.mic == "XNAS"


def test_fx_is_configured_or_an_error(bundled: ReplaySource) -> None:
    assert bundled.fx_rate("usd").eur_per == Decimal("0.92")
    assert bundled.fx_rate("EUR").eur_per == 1
    with pytest.raises(RateUnavailable):
        bundled.fx_rate("GBP")
    assert parse_fx_setting("USD=0.92, gbp=1.17") == {"USD": Decimal("0.92"),
                                                      "GBP": Decimal("1.17")}
    with pytest.raises(ValueError):
        parse_fx_setting("USD=0")


def test_a_configured_rate_is_served_as_its_pair_history(bundled: ReplaySource) -> None:
    """Dated cash flows back-fill their day's rate from ``EUR<CCY>=X`` history: the
    replay answers it at its configured rate on each of its days, and nothing else."""
    hist = bundled.history("EURUSD=X", date(2019, 1, 1), date(2019, 1, 10))
    assert [b.day for b in hist.bars] == bundled.trading_days(date(2019, 1, 1),
                                                              date(2019, 1, 10))
    assert all(abs(b.close - 1 / 0.92) < 1e-12 for b in hist.bars)
    with pytest.raises(UnknownSymbol):
        bundled.history("EURGBP=X", date(2019, 1, 1), date(2019, 1, 10))


def test_crafted_files(tmp_path: Path) -> None:
    path = tmp_path / "p.csv.gz"
    path.write_bytes(gzip.compress(b"Date,AAA,BBB\n2024-01-02,10,\n2024-01-03,11,5\n"))
    src = ReplaySource(ManualClock(LATE), prices=path)
    assert src.universe() == []
    assert src.quotes(["AAA", "BBB"])["BBB"].price == 5
    assert [b.close for b in src.history("AAA", date(2024, 1, 1), date(2024, 2, 1)).bars] \
        == [10, 11]
    assert src.lookup("AAA").symbol == "AAA.US"
    with pytest.raises(MalformedPayload):
        read_close_table("Ticker,AAA\n")
    with pytest.raises(MalformedPayload):
        read_close_table("Date,AAA\n2024-01-03,1\n2024-01-02,2\n")
    with pytest.raises(MalformedPayload):
        read_close_table("Date,AAA\n2024-01-03,abc\n")
    missing = ReplaySource(ManualClock(LATE), prices=tmp_path / "absent.csv")
    with pytest.raises(MarketDataUnavailable):
        missing.quotes(["AAA"])


def test_factory_builds_replay_by_default(tmp_path: Path) -> None:
    src = build_source(defaults(), ManualClock(LATE), tmp_path)
    assert src.name == "replay"
    assert src.fx_rate("USD").eur_per == Decimal("0.92")


def test_bundled_index_is_served_for_benchmarks(bundled: ReplaySource) -> None:
    hist = bundled.history("^GSPC", date(1990, 1, 1), date(1990, 1, 31))
    assert hist.bars[0].day == date(1990, 1, 2) and hist.bars[0].close == 359.69
    assert bundled.quotes(["SP500"])["SP500"].as_of.date() == date(2022, 12, 28)
    assert "SP500" not in {u.yahoo_symbol for u in bundled.universe()}


def test_monthly_means_from_daily_closes(bundled: ReplaySource) -> None:
    months = bundled.monthly("AAPL", date(2022, 1, 1), date(2022, 12, 31))
    assert [m.month for m in months][:2] == ["2022-01", "2022-02"] and len(months) == 12
    daily = bundled.history("AAPL", date(2022, 12, 1), date(2022, 12, 31)).bars
    assert months[-1].avg_close == pytest.approx(sum(b.close for b in daily) / len(daily))
    assert months[-1].avg_adj_close == pytest.approx(months[-1].avg_close)


def test_a_daily_top_up_gets_the_same_bar_objects_back() -> None:
    """A year re-read a day later hands back the bars it shares with the previous answer
    as the same objects (the daemon's top-up then compares by identity), and every bar
    equals one built afresh; a read outside the kept bars still answers correctly."""
    clock = ManualClock(datetime(2015, 6, 1, 21, 0, tzinfo=UTC))
    source = ReplaySource(clock, end_on=None)
    first = source.history("AAPL", date(2014, 6, 1), date(2015, 6, 1)).bars
    clock.advance(timedelta(days=1))
    second = source.history("AAPL", date(2014, 6, 2), date(2015, 6, 2)).bars
    shared = {b.day: b for b in first}
    overlap = [b for b in second if b.day in shared]
    assert len(overlap) == len(second) - 1 > 200
    assert all(b is shared[b.day] for b in overlap)
    fresh = ReplaySource(clock, end_on=None)
    assert second == fresh.history("AAPL", date(2014, 6, 2), date(2015, 6, 2)).bars
    older = source.history("AAPL", date(2001, 1, 1), date(2001, 12, 31)).bars
    assert older == fresh.history("AAPL", date(2001, 1, 1), date(2001, 12, 31)).bars


def test_histories_leave_no_bars_behind() -> None:
    """The replay indexes each column once but keeps no bars: after every symbol's whole
    history was read (the daemon's first sync), what the source still holds is a small
    index over the table's own objects, not ~330,000 bars (~20 MB of the demo's peak)."""
    import gc
    import tracemalloc

    source = ReplaySource(ManualClock(LATE))
    symbols = [i.yahoo_symbol or i.symbol for i in source.universe()] + ["SP500"]
    gc.collect()
    tracemalloc.start()
    try:
        before, _ = tracemalloc.get_traced_memory()
        bars = 0
        for symbol in symbols:
            bars += len(source.history(symbol, date(1990, 1, 1), date(2022, 12, 31)).bars)
        gc.collect()
        retained = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert bars > 150_000
    assert retained < 4_000_000, f"{retained / 1e6:.1f} MB retained by the replay source"
    assert source.history("AAPL", date(2000, 1, 3), date(2000, 1, 7)).bars == tuple(
        b for b in source.history("AAPL", date(1990, 1, 1), date(2022, 12, 31)).bars
        if date(2000, 1, 3) <= b.day <= date(2000, 1, 7))
