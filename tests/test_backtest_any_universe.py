"""Backtests on any tickers: a price file's columns become securities (described by a
universe file, else the stated defaults with a synthetic ISIN), the index column is the
benchmark, and every other column is dropped with its reason named — in the validation,
on the progress stream and in the report."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from arduino_trader.adapters.clock import ManualClock
from arduino_trader.adapters.market_data.replay_data import (
    PRICES_FILE,
    bundled_path,
    read_close_file,
)
from arduino_trader.adapters.market_data.replay_source import ReplaySource
from arduino_trader.adapters.market_data.replay_universe import (
    build_universe,
    default_security,
    read_universe_file,
    synthetic_isin,
)
from arduino_trader.daemon.cli import main
from arduino_trader.domain.backtest_report import holding_weights
from arduino_trader.domain.universe import is_valid_isin
from arduino_trader.protocols.market_data import MalformedPayload

SMALL_PLANNER = """
max_plan_depth = 2
planner_max_sequences = 50
beam_width = 3
monte_carlo_path_count = 20
max_buy_vs_52w_high = 1.0
"""  # (mid-2012 the renamed stocks sit at their 52-week highs: that rule is not tested here)


def test_synthetic_isins_are_valid_deterministic_and_distinct() -> None:
    isins = {t: synthetic_isin(t) for t in ("FOO", "BRK-B", "BRKB", "VERYLONGTICKER1",
                                            "VERYLONGTICKER2", "A")}
    assert all(is_valid_isin(i) and i.startswith("QZ") for i in isins.values())
    assert isins["FOO"] == "QZFOO000000" + isins["FOO"][-1] == synthetic_isin("foo")
    assert len(set(isins.values())) == len(isins)


def test_each_column_is_a_security_an_index_or_dropped_with_its_reason() -> None:
    directory = read_universe_file(
        "ticker,name,currency,country,industry\n"
        "FOO,Foo Corp,USD,United States,Software\n"
        "GBX,Pounds plc,GBP,United Kingdom,Banks\n"
        "EUX,Euro AG,EUR,Germany,Utilities\n")
    columns = {"FOO": [1.0, 2.0], "NEW": [None, 3.0], "ZERO": [0.0, 0.0],
               "EMPTY": [None, None], "GBX": [5.0, 5.0], "EUX": [7.0, 7.0],
               "SP500": [100.0, 101.0]}
    tradable = build_universe(columns, directory, "USD", frozenset({"USD"}))
    assert [s.yahoo_symbol for s in tradable.securities] == ["FOO", "EUX", "NEW"]
    foo, eux, new = tradable.securities
    assert (foo.name, foo.country, foo.industry, foo.symbol) == (
        "Foo Corp", "United States", "Software", "FOO.US")
    assert eux.currency == "EUR"  # EUR needs no rate
    assert new == default_security("NEW", "USD") and new.isin == synthetic_isin("NEW")
    assert tradable.indexes == ("SP500",)
    assert tradable.dropped == {
        "ZERO": "no positive close (an empty column or a column of zeros)",
        "EMPTY": "no positive close (an empty column or a column of zeros)",
        "GBX": "no FX rate for GBP (market_data.replay_fx_rates)"}


def test_weights_follow_the_fills_at_the_last_known_close() -> None:
    days = [date(2020, 1, d) for d in (6, 7, 8, 9, 10)]
    fills = [(days[1], "A", 10.0), (days[2], "B", 4.0), (days[3], "A", -10.0)]
    prices = {"A": [5.0, 6.0, None, 7.0, 8.0], "B": [1.0, 2.0, 2.5, None, 3.0]}
    weights = holding_weights(fills, days, [100.0, 100.0, 100.0, 100.0, 50.0], prices)
    # a day's snapshot comes before its close: earlier fills, the close before the day
    assert weights == {"A": [0.0, 0.0, 0.6, 0.6, 0.0],  # 8th's gap keeps the 7th's close
                       "B": [0.0, 0.0, 0.0, 0.1, 0.2]}
    assert holding_weights(fills, days, [0.0] * 5, prices) == {
        "A": [0.0] * 5, "B": [0.0] * 5}  # no value: no weight
    with pytest.raises(ValueError, match="same length"):
        holding_weights(fills, days, [1.0], prices)


@pytest.mark.parametrize(("text", "message"), [
    ("name,currency\nFoo,USD\n", "no 'ticker' or 'yahoo_symbol' column"),
    ("ticker,currency\nFOO,dollars\n", "line 2: currency 'DOLLARS' is not a three-letter"),
    ("ticker\nFOO\nfoo\n", "line 3: FOO is listed twice"),
    ("ticker,sector\nFOO,Tech\n", "unknown column(s) sector"),
    ("ticker,isin\nFOO,US0000000000\n", "line 2: 'US0000000000' is not a valid ISIN"),
    ("ticker,name\n,Foo\n", "line 2: empty ticker"),
    ("ticker\nFOO,Foo\n", "line 2: more cells than the header has columns"),
])
def test_a_bad_universe_file_is_refused_naming_the_problem(text: str, message: str) -> None:
    with pytest.raises(MalformedPayload, match=message.replace("(", r"\(").replace(")", r"\)")):
        read_universe_file(text)


def _price_file(path: Path, renames: dict[str, str], extra: dict[str, float]) -> Path:
    """Real bundled closes (2010-2012) under other names, plus constant columns."""
    table = read_close_file(bundled_path(PRICES_FILE))
    rows = ["Date," + ",".join([*renames.values(), *extra])]
    for i, day in enumerate(table.days):
        if date(2010, 1, 1) <= day <= date(2012, 12, 31):
            cells = [table.closes[t][i] for t in renames]
            rows.append(day.isoformat() + "," + ",".join(
                [*("" if c is None else repr(c) for c in cells),
                 *(repr(v) for v in extra.values())]))
    path.write_bytes(gzip.compress(("\n".join(rows) + "\n").encode()))
    return path


@pytest.mark.slow
def test_a_backtest_on_unknown_tickers_trades_them_and_names_what_it_dropped(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = _price_file(tmp_path / "prices.csv.gz",
                       {"KO": "FOO", "PG": "BAR", "XOM": "BAZ", "JNJ": "QUX"},
                       {"ZEROS": 0.0})
    universe = tmp_path / "universe.csv"
    universe.write_text("ticker,name,currency,country,industry\n"
                        "FOO,Foo Drinks,USD,United States,Beverages\n"
                        "QUX,Qux plc,GBP,United Kingdom,Drug Manufacturers\n")
    config = tmp_path / "small.toml"
    config.write_text(SMALL_PLANNER, encoding="utf-8")
    report = tmp_path / "report"
    assert main(["backtest", "--data", str(data), "--universe", str(universe),
                 "--start", "2012-07-02", "--end", "2012-08-31", "--initial-cash", "10000",
                 "--monthly-deposit", "1000", "--config", str(config), "--report",
                 str(report), "--progress-every", "0", "--log-level", "none"]) == 0
    err = capsys.readouterr().err
    assert "backtest: column QUX dropped: no FX rate for GBP" in err
    assert "backtest: column ZEROS dropped: no positive close" in err
    summary = json.loads((report / "report.json").read_text())
    described = summary["data_description"]
    assert [s["ticker"] for s in described["securities"]] == ["FOO", "BAR", "BAZ"]
    foo, bar, _ = described["securities"]
    assert (foo["name"], foo["industry"]) == ("Foo Drinks", "Beverages")
    assert bar["isin"] == synthetic_isin("BAR") and bar["symbol"] == "BAR.US"
    assert set(described["dropped_columns"]) == {"QUX", "ZEROS"}
    assert described["benchmark_index"] == {}  # this file has no SP500 column
    assert set(summary["benchmarks"]) == {"buy_and_hold_equal_weight"}
    orders = json.loads((report / "orders.json").read_text())["orders"]
    bought = {o["symbol"] for o in orders if o["side"] == "BUY" and o["state"] == "filled"}
    assert bought and bought <= {"FOO.US", "BAR.US", "BAZ.US"}, orders
    daily = summary["daily"]
    assert set(daily["weights"]) == bought
    for i in range(len(daily["day"])):  # the holdings' weights and the cash make the whole
        held = sum(w[i] for w in daily["weights"].values())
        assert held + daily["cash_share"][i] == pytest.approx(1, abs=0.01), (i, held)


def test_too_few_tradable_columns_are_refused_with_the_reasons(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = _price_file(tmp_path / "prices.csv.gz", {"KO": "FOO"}, {"ZEROS": 0.0})
    code = main(["backtest", "--data", str(data), "--start", "2012-07-02", "--end",
                 "2012-08-31", "--report", str(tmp_path / "r"), "--log-level", "none"])
    err = capsys.readouterr().err
    assert code == 1
    assert "the data has 1 tradable securities; at least 2 are needed; ZEROS dropped: no " \
        "positive close" in err
    assert not (tmp_path / "r").exists()


def _run(tmp_path: Path, data: Path, *extra: str) -> tuple[int, Path]:
    """One month's backtest of ``data`` with ``extra`` arguments: exit code, report."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    config = tmp_path / "small.toml"
    config.write_text(SMALL_PLANNER, encoding="utf-8")
    report = tmp_path / "report"
    code = main(["backtest", "--data", str(data), "--start", "2012-07-02", "--end",
                 "2012-07-31", "--config", str(config), "--report", str(report),
                 "--progress-every", "0", "--log-level", "none", *extra])
    return code, report


def test_the_benchmark_is_a_named_column_or_a_file(tmp_path: Path) -> None:
    data = _price_file(tmp_path / "prices.csv.gz",
                       {"KO": "FOO", "PG": "BAR", "XOM": "BAZ", "MSFT": "IDX"}, {})
    code, report = _run(tmp_path / "column", data, "--benchmark", "idx")
    assert code == 0
    summary = json.loads((report / "report.json").read_text())
    assert [s["ticker"] for s in summary["data_description"]["securities"]] == [
        "FOO", "BAR", "BAZ"]  # the benchmark column is not a holding
    assert set(summary["benchmarks"]) == {"buy_and_hold_equal_weight", "index_idx"}
    assert "IDX" in summary["data_description"]["benchmark_index"]

    table = read_close_file(bundled_path(PRICES_FILE))
    index_file = tmp_path / "index.csv"
    index_file.write_text("Date,MYINDEX\n" + "".join(
        f"{d.isoformat()},{c!r}\n" for d, c in zip(table.days, table.closes["JNJ"],
                                                   strict=True)
        if date(2010, 1, 1) <= d <= date(2012, 12, 31) and c is not None))
    code, report = _run(tmp_path / "file", data, "--benchmark", str(index_file))
    assert code == 0
    summary = json.loads((report / "report.json").read_text())
    assert [s["ticker"] for s in summary["data_description"]["securities"]] == [
        "FOO", "BAR", "BAZ", "IDX"]
    assert set(summary["benchmarks"]) == {"buy_and_hold_equal_weight", "index_myindex"}
    # JNJ's closes, bought with the same flows: July 2012's JNJ return, in EUR
    jnj = [c for d, c in zip(table.days, table.closes["JNJ"], strict=True)
           if date(2012, 7, 2) <= d <= date(2012, 7, 31)]
    index = summary["benchmarks"]["index_myindex"]
    assert index["total_return"] == pytest.approx(jnj[-1] / jnj[0] - 1, abs=1e-3)


def test_an_unknown_benchmark_is_refused_before_any_work(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = _price_file(tmp_path / "prices.csv.gz", {"KO": "FOO", "PG": "BAR"}, {})
    code, report = _run(tmp_path, data, "--benchmark", "NOPE")
    assert code == 1 and not report.exists()
    assert "--benchmark NOPE: neither a column of the data nor a file" in \
        capsys.readouterr().err


def test_log_scale_puts_the_value_panel_on_a_log_axis(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("matplotlib")
    from matplotlib.axes import Axes

    from arduino_trader.daemon.backtest import BacktestResult
    from arduino_trader.daemon.backtest_output import write_chart
    from arduino_trader.domain.backtest_report import EquityPoint

    scales: list[str] = []
    original = Axes.set_yscale

    def record(self: Axes, value: str, **kwargs: object) -> None:
        scales.append(value)
        original(self, value, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Axes, "set_yscale", record)
    equity = [EquityPoint(date(2020, 1, d), 1000.0 + d, 1000.0 if d == 1 else 0.0, 10.0)
              for d in range(1, 11)]
    result = BacktestResult({}, [], equity, {"index": [1000.0 + d for d in range(10)]}, 0.0)
    assert write_chart(result, tmp_path / "plain.png") is not None
    assert scales == []
    path = write_chart(result, tmp_path / "log.png", log_scale=True)
    assert path is not None and path.read_bytes()[:4] == b"\x89PNG"
    assert scales == ["log"]


def test_gaps_a_delisting_a_split_like_jump_and_zeros_still_finish(tmp_path: Path) -> None:
    """The documented treatments (docs/areas/backtest.md, "Bad price data"): the run
    finishes, and nothing fills without a close that day."""
    table = read_close_file(bundled_path(PRICES_FILE))
    gap = (date(2012, 7, 9), date(2012, 7, 20))
    delisted, split = date(2012, 8, 1), date(2012, 8, 15)
    rows = ["Date,FOO,BAR,BAZ,QUX,ZEROS"]
    closes: dict[str, dict[date, float]] = {t: {} for t in ("FOO", "BAR", "BAZ", "QUX")}
    for i, day in enumerate(table.days):
        if not date(2011, 1, 1) <= day <= date(2012, 12, 31):
            continue
        cells: dict[str, float | None] = {
            "FOO": None if gap[0] <= day <= gap[1] else table.closes["KO"][i],
            "BAR": None if day >= delisted else table.closes["PG"][i],
            "BAZ": (table.closes["XOM"][i] or 0) / (2 if day >= split else 1),
            "QUX": table.closes["WMT"][i]}
        for ticker, value in cells.items():
            if value is not None:
                closes[ticker][day] = value
        rows.append(",".join([day.isoformat(), *("" if v is None else repr(v)
                                                 for v in cells.values()), "0"]))
    data = tmp_path / "bad.csv.gz"
    data.write_bytes(gzip.compress(("\n".join(rows) + "\n").encode()))
    config = tmp_path / "small.toml"
    config.write_text(SMALL_PLANNER, encoding="utf-8")
    report = tmp_path / "report"
    assert main(["backtest", "--data", str(data), "--start", "2012-06-01", "--end",
                 "2012-09-28", "--monthly-deposit", "1000", "--config", str(config),
                 "--report", str(report), "--progress-every", "0",
                 "--log-level", "none"]) == 0
    summary = json.loads((report / "report.json").read_text())
    assert summary["data_description"]["dropped_columns"] == {
        "ZEROS": "no positive close (an empty column or a column of zeros)"}
    assert summary["trading_days"] == 84 and summary["strategy"]["final_value"] > 0
    orders = json.loads((report / "orders.json").read_text())["orders"]
    filled = [o for o in orders if o["state"] == "filled" and o["symbol"] != "EUR/USD"]
    assert filled
    for order in filled:
        ticker = order["symbol"].removesuffix(".US")
        price = float(order["fill_prices"].split(";")[0])
        later = [c for d, c in sorted(closes[ticker].items())
                 if d >= date.fromisoformat(order["day"])][:5]
        # the fill is a real close of that ticker (5 bps slippage), never an invented one
        assert any(abs(price / c - 1) < 0.001 for c in later), (order, later)
    assert not [o for o in orders if o["symbol"] == "BAR.US"
                and date.fromisoformat(o["day"]) >= delisted and o["state"] == "filled"]


def test_each_series_is_priced_in_its_own_securitys_currency(tmp_path: Path) -> None:
    """The market-data actor refuses prices in another currency than the security's, so
    the replay labels each column with its security's currency, not one for all."""
    prices = tmp_path / "prices.csv"
    prices.write_text("Date,EUX,FOO\n2020-01-02,10,20\n2020-01-03,11,21\n", encoding="utf-8")
    universe = tmp_path / "universe.csv"
    universe.write_text("ticker,name,currency\nEUX,Euro AG,EUR\nFOO,Foo Inc,USD\n",
                        encoding="utf-8")
    source = ReplaySource(ManualClock(datetime(2020, 1, 6, 15, tzinfo=UTC)), prices=prices,
                          universe=universe, fx={"USD": Decimal("0.9")})
    quotes = source.quotes(["EUX", "FOO"])
    assert {s: q.currency for s, q in quotes.items()} == {"EUX": "EUR", "FOO": "USD"}
    start, end = date(2020, 1, 1), date(2020, 1, 6)
    assert source.history("EUX", start, end).currency == "EUR"
    assert source.history("FOO", start, end).currency == "USD"
