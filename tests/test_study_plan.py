"""A study's input is checked before any work starts (keys and values by the settings
schema, windows, workers), and its overfitting guard behaves like the deflated Sharpe
ratio it claims to be."""

from __future__ import annotations

import math
import re
import socket
from datetime import date
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from arduino_trader import __version__
from arduino_trader.config.settings import defaults
from arduino_trader.daemon.cli import main
from arduino_trader.daemon.study.driver import (
    StudyOptions,
    check_windows,
    check_workers,
    run_study,
)
from arduino_trader.daemon.study.plan import StudyError, build_plan
from arduino_trader.daemon.study.stats import (
    Moments,
    deflated_sharpe,
    expected_max_sharpe,
    moment_sums,
    moments,
    pool,
)

WINDOWS = ["2019-01-02:2019-01-09", "2019-01-10:2019-01-17"]
OOS = "2019-01-18:2019-01-25"


def _plan(**kw: object) -> object:
    args: dict[str, object] = {"windows": WINDOWS, "oos": OOS,
                               "grid": ["beam_width=2,3"]}
    args.update(kw)
    return build_plan(**args)  # type: ignore[arg-type]


def test_a_grid_is_coerced_by_the_schema_and_numbered_in_order() -> None:
    plan = build_plan(windows=WINDOWS, oos=OOS,
                      grid=["beam_width=2,3", "monte_carlo_path_count=10,20"])
    assert plan.total_trials == 4
    assert plan.grid_trials() == [
        {"beam_width": 2, "monte_carlo_path_count": 10},
        {"beam_width": 2, "monte_carlo_path_count": 20},
        {"beam_width": 3, "monte_carlo_path_count": 10},
        {"beam_width": 3, "monte_carlo_path_count": 20}]
    assert plan.train[0].start == date(2019, 1, 2) and plan.oos.end == date(2019, 1, 25)


@pytest.mark.parametrize(("kw", "message"), [
    ({"grid": ["no_such_key=1,2"]}, "no_such_key: unknown setting"),
    ({"grid": ["beam_width=2,100000"]}, "beam_width"),
    ({"grid": ["beam_width="]}, "expected KEY=V1,V2"),
    ({"grid": []}, "nothing to search"),
    ({"grid": ["beam_width=2,2"]}, "given twice"),
    ({"grid": ["trading_mode=research,live"]}, "set by the backtest itself"),
    ({"grid": [], "search": ["beam_width=1:4"], "trials": 0}, "--trials must be at least 1"),
    ({"grid": [], "search": ["no_such_key=1:4"], "trials": 2}, "unknown setting"),
    ({"grid": [], "search": ["beam_width=4:1"], "trials": 2}, "must be below HIGH"),
    ({"grid": [], "search": ["beam_width=1:100000"], "trials": 2}, "beam_width"),
    ({"grid": [], "search": ["trading_mode=a:b"], "trials": 2}, "set by the backtest"),
    ({"search": ["beam_width=1:4"], "trials": 2}, "either --grid or --search"),
    ({"windows": []}, "no training window"),
    ({"windows": ["2019-01-09:2019-01-02"]}, "end must be after the start"),
    ({"windows": ["2019-01-02"]}, "YYYY-MM-DD:YYYY-MM-DD"),
    ({"oos": "2019-01-15:2019-01-31"}, "windows must follow each other"),
    ({"top": 0}, "--top must be at least 1"),
])
def test_bad_study_input_is_refused_with_a_clear_message(kw: dict[str, object],
                                                         message: str) -> None:
    with pytest.raises(StudyError, match=message):
        _plan(**kw)


def test_windows_outside_the_data_or_shorter_than_the_warm_up_are_refused() -> None:
    options = StudyOptions(out=Path("unused"))
    short = build_plan(windows=["2019-01-02:2019-01-04"], oos=OOS, grid=["beam_width=2,3"])
    with pytest.raises(StudyError, match=r"window 2019-01-02:2019-01-04 has 3 trading days; "
                                         r"at least 5"):
        check_windows(short, defaults(), options)
    outside = build_plan(windows=["2030-01-02:2030-02-01"], oos="2030-03-01:2030-04-01",
                         grid=["beam_width=2,3"])
    with pytest.raises(StudyError, match="outside the data"):
        check_windows(outside, defaults(), options)
    check_windows(_plan(), defaults(), options)  # type: ignore[arg-type]


def test_workers_without_the_package_or_with_another_version_are_refused() -> None:
    check_workers({"tcp://a": {"version": __version__}, "tcp://b": {"version": __version__}})
    with pytest.raises(StudyError, match="tcp://b cannot run arduino_trader: "
                                         "ModuleNotFoundError"):
        check_workers({"tcp://a": {"version": __version__},
                       "tcp://b": "ModuleNotFoundError: No module named 'arduino_trader'"})
    with pytest.raises(StudyError, match=re.escape("tcp://a runs arduino-trader 0.0.1")):
        check_workers({"tcp://a": {"version": "0.0.1"}})
    with pytest.raises(StudyError, match="no workers"):
        check_workers({})


def test_an_unreachable_scheduler_is_refused_before_any_work(tmp_path: Path) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    options = StudyOptions(out=tmp_path / "study", scheduler=f"tcp://127.0.0.1:{port}")
    with pytest.raises(StudyError, match=f"cannot reach the scheduler tcp://127.0.0.1:{port}"):
        run_study(_plan(), defaults(), options)  # type: ignore[arg-type]
    assert not (tmp_path / "study").exists()


def test_the_command_reports_bad_input_and_exits_1(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["study", "--out", str(tmp_path / "s"), "--window", WINDOWS[0], "--oos", OOS,
                 "--grid", "beam_width=2,0"])
    assert code == 1
    assert "arduino-trader study: --grid beam_width" in capsys.readouterr().err
    assert not (tmp_path / "s").exists()


# ------------------------------------------------------------- overfitting guard
returns_lists = st.lists(st.floats(-0.1, 0.1, allow_nan=False), min_size=3, max_size=40)


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(returns_lists, returns_lists)
def test_pooled_moment_sums_equal_those_of_the_joined_returns(a: list[float],
                                                              b: list[float]) -> None:
    pooled = pool([moment_sums(a), moment_sums(b)])
    joined = moment_sums(a + b)
    assert pooled == pytest.approx(joined, rel=1e-9, abs=1e-12)


def test_moments_match_the_textbook_definitions() -> None:
    returns = [0.01, -0.02, 0.03, 0.0, 0.015, -0.005]
    m = moments(moment_sums(returns))
    assert m is not None
    n = len(returns)
    mean = sum(returns) / n
    sd = math.sqrt(sum((r - mean) ** 2 for r in returns) / (n - 1))
    pop = math.sqrt(sum((r - mean) ** 2 for r in returns) / n)
    assert m.sharpe == pytest.approx(mean / sd)
    assert m.skew == pytest.approx(sum((r - mean) ** 3 for r in returns) / n / pop ** 3)
    assert m.kurtosis == pytest.approx(sum((r - mean) ** 4 for r in returns) / n / pop ** 4)
    assert moments(moment_sums([0.01, 0.01, 0.01])) is None  # no variation


def test_the_expected_best_of_many_unskilled_trials_grows_with_their_number() -> None:
    spread = [0.05, -0.05]
    assert expected_max_sharpe([0.1]) == 0.0
    few = expected_max_sharpe(spread * 5)
    many = expected_max_sharpe(spread * 500)
    assert 0 < few < many


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.floats(-0.5, 0.5), st.lists(st.floats(-0.5, 0.5), min_size=1, max_size=50))
def test_the_deflated_sharpe_ratio_is_a_probability(sr: float, trials: list[float]) -> None:
    assert 0.0 <= deflated_sharpe(Moments(sr, 0.0, 3.0, 250), trials) <= 1.0


def test_more_trials_deflate_the_same_sharpe_ratio() -> None:
    best = Moments(0.1, 0.0, 3.0, 250)  # a daily Sharpe of 0.1 (1.6 annualised)
    one = deflated_sharpe(best, [0.1])
    ten = deflated_sharpe(best, [0.1, 0.0, 0.02, -0.03, 0.05, 0.01, -0.01, 0.04, 0.03, 0.0])
    hundred = deflated_sharpe(best, [0.1, 0.0, 0.02, -0.03, 0.05, 0.01, -0.01, 0.04, 0.03,
                                     0.0] * 10)
    assert one > ten > hundred
    # One trial: the plain probabilistic Sharpe ratio against zero.
    z = 0.1 * math.sqrt(249) / math.sqrt(1 + 2 / 4 * 0.01)
    assert one == pytest.approx(0.5 * (1 + math.erf(z / math.sqrt(2))))
