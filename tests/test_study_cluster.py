"""`arduino-trader study` end to end on real Dask clusters: a 2-worker LocalCluster, and
a `dask scheduler` with two `dask worker` processes on 127.0.0.1 reached through
--scheduler, one of them killed mid-trial. Tiny planner settings, one-week windows and a
four-stock, two-year price file (sent to the workers with --data) keep each backtest
around a second; every worker inherits the suite's NUMBA_CACHE_DIR (conftest.py), so
they load the kernels the earlier tests compiled instead of compiling them again."""

from __future__ import annotations

import csv
import gzip
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("distributed")
pytest.importorskip("optuna")

from arduino_trader.adapters.market_data.replay_data import PRICES_FILE, bundled_path
from arduino_trader.daemon.cli import main
from arduino_trader.daemon.study.trial import run_window
from tests.dask_started_signal import ENV as STARTED_ENV

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

SMALL = ("max_plan_depth = 1\nplanner_max_sequences = 10\nbeam_width = 2\n"
         "monte_carlo_path_count = 10\n")
WINDOWS = ["2019-01-02:2019-01-09", "2019-01-10:2019-01-17"]
OOS = "2019-01-18:2019-01-25"
METRICS = ("trial", "phase", "window", "settings", "status", "sharpe", "cagr", "orders",
           "moment_sums")


# A smaller universe than the bundled 20 stocks: their closes from 2017 on.
SMALL_TICKERS = ("AAPL", "JNJ", "KO", "XOM")
SMALL_FROM, SMALL_TO = "2017-01-03", "2019-02-28"


@pytest.fixture(scope="module")
def small_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundled closes of :data:`SMALL_TICKERS` over two years, as a --data file."""
    with gzip.open(bundled_path(PRICES_FILE), "rt", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    columns = [0] + [rows[0].index(t) for t in SMALL_TICKERS]
    path = tmp_path_factory.mktemp("study-data") / "closes.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        for row in rows:
            if row is rows[0] or SMALL_FROM <= row[0] <= SMALL_TO:
                writer.writerow([row[i] for i in columns])
    return path


def _config(tmp_path: Path) -> Path:
    path = tmp_path / "small.toml"
    path.write_text(SMALL, encoding="utf-8")
    return path


def _rows(out: Path) -> list[dict[str, str]]:
    with (out / "trials.csv").open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_a_failing_window_is_a_row_with_its_error_not_an_exception() -> None:
    row = run_window(3, "train", ("2030-01-02", "2030-01-09"), {"beam_width": 2}, {},
                     ("10000", "0"), None)
    assert row["trial"] == 3 and row["status"] == "error"
    assert "outside the data" in row["error"]
    assert row["peak_rss_mb"] > 0


def test_a_four_trial_walk_forward_study_on_a_two_worker_local_cluster(
        tmp_path: Path, small_data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "study"
    argv = ["study", "--config", str(_config(tmp_path)), "--out", str(out),
            "--window", WINDOWS[0], "--window", WINDOWS[1], "--oos", OOS,
            "--grid", "beam_width=1,2", "--grid", "monte_carlo_path_count=10,11",
            "--workers", "2", "--data", str(small_data), "--warm-up", "--log-level", "none"]
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert "study: 4 trials x 2 windows on 2 workers" in err
    # --warm-up: one backtest of the first 5 trading days on each worker, before the trials.
    assert "study: warm-up 2019-01-02:2019-01-08 on 2 workers, slowest " in err
    assert err.index("study: warm-up") < err.index("study: 1/9 done")
    assert "study: 9/9 done, 0 running, 0 queued, 0 failed, best " in err
    assert "study: 1/9 done, 2 running, 5 queued, 0 failed, " in err
    assert "ETA" in err

    rows = _rows(out)
    assert sorted((r["trial"], r["window"]) for r in rows if r["phase"] == "train") == [
        (str(t), w) for t in range(4) for w in WINDOWS]
    assert len(rows) == 9 and all(r["status"] == "ok" for r in rows)
    assert {json.loads(r["settings"])["beam_width"] for r in rows} == {1, 2}
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    best = summary["best"]
    assert summary["trials"] == 4 and summary["scored"] == 4 and summary["failed"] == 0
    assert best["settings"] == json.loads(
        next(r["settings"] for r in rows if r["trial"] == str(best["trial"])))
    assert [w["window"] for w in best["in_sample"]["windows"]] == WINDOWS
    assert best["out_of_sample"]["window"] == OOS
    oos_row = next(r for r in rows if r["phase"] == "oos")
    assert oos_row["trial"] == str(best["trial"])
    assert best["trials_in_deflation"] == 4
    assert 0.0 <= best["deflated_sharpe_ratio"] <= 1.0
    workers = summary["workers_peak_rss_mb"]
    assert len(workers) == 2 and all(mb > 50 for mb in workers.values())
    assert all(r["worker"] in workers for r in rows)
    assert set(summary["warm_up_s"]) == set(workers)  # every worker warmed, timed apart
    assert all(s > 0 for s in summary["warm_up_s"].values())
    assert all(r["trial"] != "-1" for r in rows)  # warm-ups are not results

    # A re-run of the same study resumes: nothing is run again, the results are the same.
    assert main([a for a in argv if a != "--warm-up"]) == 0
    again = capsys.readouterr().err
    assert "done" not in again.replace("summary", "")
    assert [{k: r[k] for k in METRICS} for r in _rows(out)] == [
        {k: r[k] for k in METRICS} for r in rows]
    resumed = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert resumed["best"] == best


def _wait_for(path: Path, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while not path.is_file() or not path.read_text(encoding="utf-8").strip():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{path} did not appear")
        time.sleep(0.1)


def _stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in reversed(procs):
        proc.terminate()
    for proc in procs:
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _scheduler(tmp_path: Path, procs: list[subprocess.Popen[bytes]]) -> str:
    """Start `dask scheduler` on 127.0.0.1 (added to ``procs``); its address."""
    scheduler_file = tmp_path / "scheduler.json"
    procs.append(subprocess.Popen([DASK, "scheduler", "--host", "127.0.0.1", "--port", "0",
                                   "--no-dashboard", "--scheduler-file", str(scheduler_file)],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    _wait_for(scheduler_file)
    return str(json.loads(scheduler_file.read_text(encoding="utf-8"))["address"])


def _workers_up(address: str, count: int) -> list[str]:
    return sorted(_workers_by_name(address, count).values())


def _workers_by_name(address: str, count: int) -> dict[str, str]:
    """Once ``count`` workers are up: each worker's address by its --name."""
    from distributed import Client

    with Client(address, timeout=30) as client:
        client.wait_for_workers(count, timeout=60)
        return {str(info["name"]): addr
                for addr, info in client.scheduler_info()["workers"].items()}


DASK = shutil.which("dask", path=str(Path(sys.executable).parent)) or "dask"
# As the README tells `dask worker` users: one thread per worker, Numba included.
WORKER_ENV = {**os.environ, "NUMBA_NUM_THREADS": "1"}


def _worker(address: str, name: str, tmp_path: Path, *extra: str,
            env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    """A `dask worker` process with one thread on 127.0.0.1."""
    return subprocess.Popen(
        [DASK, "worker", address, "--nthreads", "1", "--host", "127.0.0.1",
         "--no-dashboard", "--name", name, "--local-directory", str(tmp_path / name),
         *extra], env=env or WORKER_ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


@pytest.fixture
def dask_cluster(tmp_path: Path) -> Iterator[tuple[str, list[str]]]:
    """`dask scheduler` and two `dask worker` processes on 127.0.0.1; all stopped after."""
    procs: list[subprocess.Popen[bytes]] = []
    try:
        address = _scheduler(tmp_path, procs)
        for name in ("w1", "w2"):
            procs.append(_worker(address, name, tmp_path, "--nworkers", "1"))
        yield address, _workers_up(address, 2)
    finally:
        _stop(procs)


# A `dask worker` (no nanny: the worker runs in this process) whose Python cannot import
# arduino_trader, or believes it is another version.
_ODD_WORKER = """
import sys
from importlib.abc import MetaPathFinder
class Hide(MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "arduino_trader":
            raise ModuleNotFoundError(f"No module named {name!r}")
        return None
if sys.argv[1] == "missing":
    sys.meta_path.insert(0, Hide())
else:
    import arduino_trader
    arduino_trader.__version__ = sys.argv[1]
from distributed.cli.dask_worker import main
sys.argv = ["dask-worker", sys.argv[2], "--nthreads", "1", "--no-nanny", "--host",
            "127.0.0.1", "--no-dashboard"]
main()
"""


@pytest.mark.parametrize(("kind", "message"), [
    ("missing", "cannot run arduino_trader: ModuleNotFoundError"),
    ("0.0.0-other", "runs arduino-trader 0.0.0-other"),
])
def test_a_worker_without_the_package_or_with_another_version_is_refused(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], kind: str, message: str) -> None:
    procs: list[subprocess.Popen[bytes]] = []
    try:
        address = _scheduler(tmp_path, procs)
        procs.append(subprocess.Popen([sys.executable, "-c", _ODD_WORKER, kind, address],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        _workers_up(address, 1)
        out = tmp_path / "study"
        code = main(["study", "--config", str(_config(tmp_path)), "--out", str(out),
                     "--window", WINDOWS[0], "--oos", OOS, "--grid", "beam_width=1,2",
                     "--scheduler", address, "--log-level", "none"])
        err = capsys.readouterr().err
        assert code == 1
        assert message in err
        assert not out.exists()  # refused before the study directory was made
    finally:
        _stop(procs)


def test_a_study_runs_on_dask_scheduler_and_dask_worker_processes(
        tmp_path: Path, dask_cluster: tuple[str, list[str]], small_data: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    address, workers = dask_cluster
    out = tmp_path / "study"
    data = small_data  # sent to the workers by the driver, not read there
    code = main(["study", "--config", str(_config(tmp_path)), "--out", str(out),
                 "--window", WINDOWS[0], "--oos", OOS, "--grid", "beam_width=1,2",
                 "--scheduler", address, "--data", str(data), "--log-level", "none"])
    err = capsys.readouterr().err
    assert code == 0, err
    assert "study: 2 trials x 1 windows on 2 workers" in err
    rows = _rows(out)
    assert len(rows) == 3 and all(r["status"] == "ok" for r in rows)
    assert {r["worker"] for r in rows} <= set(workers)  # ran in the worker processes
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert set(summary["workers_peak_rss_mb"]) <= set(workers)
    assert summary["best"]["out_of_sample"]["window"] == OOS


def test_a_worker_killed_mid_trial_has_its_trial_run_again_on_another_worker(
        tmp_path: Path, small_data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """SIGKILL a real `dask worker` once a trial is executing on it: the scheduler re-runs
    that trial on the other worker, and the study records every trial once."""
    started = tmp_path / "started"
    procs: list[subprocess.Popen[bytes]] = []
    stop = threading.Event()
    killed: list[str] = []

    def kill_when_a_trial_starts(victim: subprocess.Popen[bytes]) -> None:
        while not stop.is_set():  # the worker's plugin writes the file (no fixed sleep)
            if started.is_file() and (keys := started.read_text(encoding="utf-8").split()):
                victim.send_signal(signal.SIGKILL)
                killed.append(keys[0])
                return
            stop.wait(0.05)

    try:
        address = _scheduler(tmp_path, procs)
        # The victim runs without a nanny: the killed process is the worker itself.
        victim = _worker(address, "victim", tmp_path, "--no-nanny", "--preload",
                         str(Path(__file__).with_name("dask_started_signal.py")),
                         env={**WORKER_ENV, STARTED_ENV: str(started)})
        procs += [victim, _worker(address, "survivor", tmp_path, "--nworkers", "1")]
        names = _workers_by_name(address, 2)
        killer = threading.Thread(target=kill_when_a_trial_starts, args=(victim,),
                                  daemon=True)
        killer.start()
        out = tmp_path / "study"
        code = main(["study", "--config", str(_config(tmp_path)), "--out", str(out),
                     "--window", WINDOWS[0], "--window", WINDOWS[1], "--oos", OOS,
                     "--grid", "beam_width=1,2", "--scheduler", address,
                     "--data", str(small_data), "--log-level", "none"])
        stop.set()
        killer.join(timeout=10)
        err = capsys.readouterr().err
        assert code == 0, err
        assert killed and killed[0].startswith("study-"), "no trial started on the victim"
        assert victim.wait(timeout=30) == -signal.SIGKILL
    finally:
        stop.set()
        _stop(procs)
    rows = _rows(out)
    done = [(r["trial"], r["phase"], r["window"]) for r in rows]
    assert len(done) == len(set(done)) == 5  # 2 trials x 2 windows + 1 out of sample, once
    assert sorted(d for d in done if d[1] == "train") == [
        (str(t), "train", w) for t in range(2) for w in WINDOWS]
    assert all(r["status"] == "ok" for r in rows)
    trial, phase, window = killed[0].removeprefix("study-").split("-", 2)
    rerun = next(r for r in rows if (r["trial"], r["phase"], r["window"]) == (
        trial, phase, window))
    assert rerun["worker"] == names["survivor"]  # the killed trial, run again elsewhere
    assert {r["worker"] for r in rows} == {names["survivor"]}  # the victim finished none
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["trials"] == 2 and summary["failed"] == 0


def test_price_data_lost_from_the_cluster_is_sent_again_and_its_trials_rerun(
        tmp_path: Path, small_data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The scheduler may keep a single replica of the scattered price data, and lose it
    with a worker: it then cancels every task that needs it. Here another client forgets
    the data once a trial is executing; the study scatters it again, sends the cancelled
    trials again, and records every trial once."""
    from distributed import Client, Future

    started = tmp_path / "started"
    procs: list[subprocess.Popen[bytes]] = []
    stop = threading.Event()
    dropped: list[str] = []

    def drop_data_when_a_trial_starts(address: str) -> None:
        while not stop.is_set():
            keys = started.read_text(encoding="utf-8").split() if started.is_file() else []
            if any(k.startswith("study-") for k in keys):
                with Client(address, timeout=30) as other:
                    data = [k for k in other.who_has() if str(k).startswith("PriceData")]
                    other.cancel([Future(k, client=other) for k in data], force=True)
                    dropped.extend(str(k) for k in data)
                return
            stop.wait(0.05)

    try:
        address = _scheduler(tmp_path, procs)
        env = {**WORKER_ENV, STARTED_ENV: str(started)}
        preload = ("--preload", str(Path(__file__).with_name("dask_started_signal.py")))
        procs += [_worker(address, name, tmp_path, "--nworkers", "1", *preload, env=env)
                  for name in ("w1", "w2")]
        _workers_up(address, 2)
        dropper = threading.Thread(target=drop_data_when_a_trial_starts, args=(address,),
                                   daemon=True)
        dropper.start()
        out = tmp_path / "study"
        code = main(["study", "--config", str(_config(tmp_path)), "--out", str(out),
                     "--window", WINDOWS[0], "--window", WINDOWS[1], "--oos", OOS,
                     "--grid", "beam_width=1,2", "--scheduler", address,
                     "--data", str(small_data), "--log-level", "none"])
        stop.set()
        dropper.join(timeout=30)
        err = capsys.readouterr().err
        assert code == 0, err
        assert dropped, "the price data was never dropped"
    finally:
        stop.set()
        _stop(procs)
    rows = _rows(out)
    done = [(r["trial"], r["phase"], r["window"]) for r in rows]
    assert len(done) == len(set(done)) == 5
    assert all(r["status"] == "ok" for r in rows), rows
