"""The study driver: connects to Dask (a LocalCluster of worker processes, or an existing
scheduler), checks the workers, sends the price data once, runs every trial on every
training window, scores the best trials out of sample and writes the study directory.

With a sampler (``--search``) the driver asks Optuna's TPE sampler for a batch of trials,
runs them, and tells the sampler their scores in trial order, so the same seed gives the
same trials whatever order the workers finish in.
"""

from __future__ import annotations

import contextlib
import json
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import CancelledError
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from arduino_trader import __version__
from arduino_trader.config.schema import SETTINGS
from arduino_trader.config.settings import Settings

from .plan import MIN_WINDOW_DAYS, StudyError, StudyPlan, Window, settings_json
from .results import ResultStore, summary, trial_score, write_summary
from .trial import PriceData, run_window

CONNECT_TIMEOUT_S = 10
# Each LocalCluster worker has one thread, so its Numba kernels get one too (Dask already
# sets OMP/MKL/OpenBLAS to one thread per worker): N workers use N cores, no more. The
# workers inherit NUMBA_CACHE_DIR, so they share one compiled-kernel cache on disk.
WORKER_ENV = {"NUMBA_NUM_THREADS": "1"}
RESUBMITS = 3  # times a task the cluster cancelled (its data lost) is sent again


@dataclass(frozen=True)
class StudyOptions:
    """How and where to run a study."""

    out: Path
    workers: int = 2
    scheduler: str | None = None
    data: Path | None = None  # None: the bundled closes every installed worker has
    initial_cash: str = "10000"
    monthly_deposit: str = "0"
    batch: int = 8  # sampler trials asked per round (fixed: results do not depend on workers)
    warm_up: bool = False  # one short backtest on every worker before the timed trials


def base_overrides(settings: Settings) -> dict[str, Any]:
    """The non-default, non-secret settings of the driver's configuration, as JSON values
    the workers apply on top of their defaults."""
    return {k: SETTINGS[k].to_json(v) for k, v in settings.items()
            if settings.sources[k] != "default" and not SETTINGS[k].secret}


def check_workers(identities: Mapping[str, Any]) -> None:
    """:class:`StudyError` unless every worker runs this package at this version."""
    if not identities:
        raise StudyError("the cluster has no workers")
    for address, identity in sorted(identities.items()):
        if not isinstance(identity, dict) or identity.get("version") is None:
            raise StudyError(f"worker {address} cannot run arduino_trader: {identity}")
        if identity["version"] != __version__:
            raise StudyError(f"worker {address} runs arduino-trader {identity['version']}, "
                             f"this driver {__version__}: install the same version")


@contextlib.contextmanager
def connect(options: StudyOptions) -> Iterator[Any]:
    """A Dask client: to ``options.scheduler``, or to a new LocalCluster of
    ``options.workers`` single-threaded worker processes (the operating system places
    them; nothing is pinned; :data:`WORKER_ENV` in their environment)."""
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise StudyError("Dask is not installed: pip install 'arduino-trader[study]'") from None
    if options.scheduler:
        try:
            client = Client(options.scheduler, timeout=CONNECT_TIMEOUT_S)
        except (OSError, TimeoutError) as exc:
            raise StudyError(f"cannot reach the scheduler {options.scheduler}: {exc}") from None
        with client:
            yield client
        return
    if options.workers < 1:
        raise StudyError("--workers must be at least 1")
    cluster = LocalCluster(n_workers=options.workers, threads_per_worker=1, processes=True,
                           dashboard_address="127.0.0.1:0", host="127.0.0.1",
                           env=dict(WORKER_ENV))
    with cluster, Client(cluster) as client:
        yield client


def dashboard(client: Any) -> str | None:
    """The Dask dashboard's address, when the scheduler serves one."""
    services = client.scheduler_info().get("services", {})
    return str(client.dashboard_link) if "dashboard" in services else None


class Progress:
    """One terminal line per finished task: done / running / failed, best so far, ETA."""

    def __init__(self, total: int, out: TextIO, link: str | None, slots: int = 1) -> None:
        self.total, self.out, self.link, self.slots = total, out, link, max(1, slots)
        self.done = self.failed = 0
        self.t0 = time.monotonic()
        self.best: tuple[float, int] | None = None

    def finished(self, row: Mapping[str, Any], pending: int) -> None:
        """Count one finished task and print the line (``pending``: tasks submitted and
        not finished; as many as there are worker threads run, the rest wait)."""
        running = min(pending, self.slots)
        self.done += 1
        self.failed += row["status"] != "ok"
        rate = self.done / max(time.monotonic() - self.t0, 1e-9)
        eta = (self.total - self.done) / rate if rate > 0 else 0.0
        best = f"best {self.best[0]:.3f} (trial {self.best[1]})" if self.best else "best -"
        link = f", dashboard {self.link}" if self.link else ""
        print(f"study: {self.done}/{self.total} done, {running} running, "
              f"{pending - running} queued, {self.failed} failed, {best}, ETA {eta:.0f}s"
              f"{link}", file=self.out, flush=True)

    def scored(self, trial: int, score: float | None) -> None:
        """Note a trial's score for "best so far"."""
        if score is not None and (self.best is None or score > self.best[0]):
            self.best = (score, trial)


class Study:
    """One study run on a connected client."""

    def __init__(self, plan: StudyPlan, settings: Settings, options: StudyOptions,
                 client: Any, out: TextIO) -> None:
        self.plan, self.options, self.client, self.out = plan, options, client, out
        self.base = base_overrides(settings)
        plan_text = json.dumps({"keys": plan.keys, "grid": [[k, [str(v) for v in vs]]
                                                           for k, vs in plan.grid],
                                "ranges": [[k, [r.low, r.high, r.integer]]
                                           for k, r in plan.ranges],
                                "trials": plan.trials, "seed": plan.seed,
                                "train": [w.label for w in plan.train],
                                "oos": plan.oos.label, "base": self.base,
                                "data": str(options.data or "bundled"),
                                "cash": [options.initial_cash, options.monthly_deposit]},
                               indent=2, sort_keys=True)
        self.plan_text = plan_text
        self.settings: dict[int, dict[str, Any]] = {}
        self.train: dict[int, list[dict[str, Any]]] = {}
        self.oos: dict[int, dict[str, Any]] = {}
        self.workers: dict[str, float] = {}
        self.data: Any = None
        self._payload: PriceData | None = None
        self.warm: dict[str, float] | None = None  # each worker's warm-up seconds
        self.checked: list[str] = []

    def preflight(self) -> None:
        """Check every worker, open the study directory, then scatter the price data to
        all workers once."""
        def identity() -> dict[str, Any] | str:
            # Defined here so it travels by value: a worker without the package answers
            # with the import error instead of failing to load the function.
            try:
                from arduino_trader.daemon.study.trial import worker_identity
            except ImportError as exc:
                return f"{type(exc).__name__}: {exc}"
            return worker_identity()

        try:
            identities = self.client.run(identity)
        except Exception as exc:  # a worker that cannot even run the check
            raise StudyError(f"a worker cannot run the version check: {exc}") from None
        check_workers(identities)
        self.checked = sorted(identities)  # the workers' addresses, as the check saw them
        try:
            self.store = ResultStore(self.options.out, self.plan_text)
        except ValueError as exc:
            raise StudyError(str(exc)) from None
        if self.options.data is not None:
            try:
                content = self.options.data.read_bytes()
            except OSError as exc:
                raise StudyError(f"cannot read --data {self.options.data}: {exc}") from None
            self._payload = PriceData(self.options.data.name, content)
            self.data = self.client.scatter(self._payload, broadcast=True)

    def warm_up(self, window: Window) -> dict[str, float]:
        """One backtest of ``window`` with the base settings on every worker, before the
        timed trials: each worker imports the package, loads the Numba kernels and writes
        the price data once. Each task is placed on its worker, loosely: a worker lost
        meanwhile has its warm-up run elsewhere instead of waiting for ever. Each worker's
        wall seconds; :class:`StudyError` when one fails."""
        # The addresses the pre-flight check answered from: the client's cached scheduler
        # info can still be empty right after a LocalCluster starts.
        workers = self.checked
        futures = [self.client.submit(
            run_window, -1, "warm-up", (window.start.isoformat(), window.end.isoformat()),
            {}, self.base, (self.options.initial_cash, self.options.monthly_deposit),
            self.data, key=f"study-warm-up-{address}", workers=[address],
            allow_other_workers=True, pure=False) for address in workers]
        rows = self.client.gather(futures)
        for row in rows:
            if row["status"] != "ok":
                raise StudyError(f"the warm-up backtest failed on {row['worker']}: "
                                 f"{row['error']}")
        self.warm = {str(r["worker"]): float(r["wall_s"]) for r in rows}
        return self.warm

    def _restore_data(self) -> None:
        """Scatter the price data again when no worker holds it any more."""
        if self.data is None or self._payload is None:
            return
        if self.data.cancelled() or not self.client.who_has([self.data]).get(self.data.key):
            # A fresh key: the lost one may still be known to the client as cancelled.
            self.data = self.client.scatter(self._payload, broadcast=True, hash=False)

    def _submit(self, trial: int, phase: str, window: Any, attempt: int = 0) -> Any:
        # A task sent again gets a key of its own: the client keeps the cancelled one.
        again = f"-again{attempt}" if attempt else ""
        return self.client.submit(
            run_window, trial, phase, (window.start.isoformat(), window.end.isoformat()),
            self.settings[trial], self.base,
            (self.options.initial_cash, self.options.monthly_deposit), self.data,
            key=f"study-{trial}-{phase}-{window.label}{again}", pure=False)

    def _run(self, jobs: list[tuple[int, str, Any]], progress: Progress,
             on_row: Callable[[dict[str, Any]], None]) -> None:
        """Run the (trial, phase, window) jobs not yet done; each row goes to ``on_row``."""
        from distributed import as_completed

        futures = []
        by_key: dict[str, tuple[int, str, Any, int]] = {}  # job and attempt by task key
        for trial, phase, window in jobs:
            row = self.store.done(trial, phase, window.label)
            if row is not None:  # done by an earlier run of this study
                progress.total -= 1
                on_row(row)
            else:
                futures.append(self._submit(trial, phase, window))
                by_key[str(futures[-1].key)] = (trial, phase, window, 0)
        running = len(futures)
        pending = as_completed(futures)
        for future in pending:
            try:
                row = future.result()
            except CancelledError as exc:
                # The cluster dropped the task: its price data went with a lost worker
                # (the scheduler may keep a single replica of scattered data). Send the
                # data again if no worker holds it, then the task.
                trial, phase, window, attempt = by_key[str(future.key)]
                if attempt >= RESUBMITS:
                    raise StudyError(f"{future.key} was cancelled by the cluster "
                                     f"{attempt + 1} times: {exc}") from None
                self._restore_data()
                again = self._submit(trial, phase, window, attempt + 1)
                by_key[str(again.key)] = (trial, phase, window, attempt + 1)
                pending.add(again)
                continue
            future.release()
            running -= 1
            self.store.add(row)
            self.workers[row["worker"]] = max(self.workers.get(row["worker"], 0.0),
                                              float(row["peak_rss_mb"]))
            on_row(row)
            progress.finished(row, running)

    def _train(self, trials: list[int], progress: Progress) -> None:
        for t in trials:
            self.train[t] = []

        def collect(row: dict[str, Any]) -> None:
            trial = int(row["trial"])
            self.train[trial].append(row)
            if len(self.train[trial]) == len(self.plan.train):  # best so far, at once
                progress.scored(trial, trial_score(self.train[trial]))

        self._run([(t, "train", w) for t in trials for w in self.plan.train], progress, collect)
        order = {w.label: i for i, w in enumerate(self.plan.train)}
        for t in trials:
            self.train[t].sort(key=lambda r: order[r["window"]])

    def run(self) -> dict[str, Any]:
        """Run the study; returns the summary (also written to the study directory)."""
        t0 = time.monotonic()
        plan = self.plan
        threads = self.client.nthreads()
        progress = Progress(plan.total_trials * len(plan.train) + plan.top, self.out,
                            dashboard(self.client), sum(threads.values()))
        if plan.grid:
            for t, values in enumerate(plan.grid_trials()):
                self.settings[t] = json.loads(settings_json(values))
            self._train(list(self.settings), progress)
        else:
            self._sample(progress)
        scores = {t: s for t in self.train if (s := trial_score(self.train[t])) is not None}
        best = sorted(scores, key=lambda t: (-scores[t], t))[:plan.top]

        def collect(row: dict[str, Any]) -> None:
            self.oos[int(row["trial"])] = row

        self._run([(t, "oos", plan.oos) for t in best], progress, collect)
        self.store.rewrite_sorted()
        data = summary(plan, self.settings, self.train, self.oos, self.workers,
                       time.monotonic() - t0)
        data["dashboard"] = progress.link
        data["warm_up_s"] = self.warm
        write_summary(self.options.out, data)
        return data

    def _sample(self, progress: Progress) -> None:
        """Ask/tell with Optuna's TPE sampler in fixed-size batches."""
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        study = optuna.create_study(direction="maximize",
                                    sampler=optuna.samplers.TPESampler(seed=self.plan.seed))
        asked = 0
        while asked < self.plan.trials:
            batch = []
            for _ in range(min(self.options.batch, self.plan.trials - asked)):
                trial = study.ask()
                values = {k: (trial.suggest_int(k, int(r.low), int(r.high)) if r.integer
                              else trial.suggest_float(k, r.low, r.high))
                          for k, r in self.plan.ranges}
                self.settings[trial.number] = values
                batch.append(trial)
            asked += len(batch)
            self._train([t.number for t in batch], progress)
            for trial in batch:
                score = trial_score(self.train[trial.number])
                if score is None:
                    study.tell(trial, state=optuna.trial.TrialState.FAIL)
                else:
                    study.tell(trial, score)


def check_windows(plan: StudyPlan, settings: Settings, options: StudyOptions) -> Window:
    """:class:`StudyError` for a window outside the price data or shorter than
    :data:`~arduino_trader.daemon.study.plan.MIN_WINDOW_DAYS` trading days; else the
    warm-up window: the first training window's first that many trading days."""
    from datetime import date
    from decimal import Decimal, InvalidOperation

    from arduino_trader.adapters.clock import StepClock
    from arduino_trader.daemon.backtest import (
        BacktestConfig,
        BacktestError,
        backtest_settings,
        build_source,
        start_moment,
        validate,
    )

    try:
        cash = Decimal(options.initial_cash), Decimal(options.monthly_deposit)
    except InvalidOperation:
        raise StudyError("--initial-cash and --monthly-deposit must be numbers") from None
    warm: Window | None = None
    for window in (*plan.train, plan.oos):
        config = BacktestConfig(window.start, window.end, *cash, data=options.data)
        try:
            effective = backtest_settings(settings, config)
            source = build_source(config, effective, StepClock(start_moment(date.today())))
            days = validate(config, source)
        except BacktestError as exc:
            raise StudyError(f"window {window.label}: {exc}") from None
        if len(days) < MIN_WINDOW_DAYS:
            raise StudyError(f"window {window.label} has {len(days)} trading days; at least "
                             f"{MIN_WINDOW_DAYS} are needed (the first books the cash and "
                             "syncs, trading starts after)")
        warm = warm or Window(days[0], days[MIN_WINDOW_DAYS - 1])
    assert warm is not None  # the plan has at least one training window
    return warm


def run_study(plan: StudyPlan, settings: Settings, options: StudyOptions,
              out: TextIO | None = None) -> dict[str, Any]:
    """Connect, check, run and summarise one study; :class:`StudyError` on bad input."""
    stream = out if out is not None else sys.stderr
    if options.data is not None and not options.data.is_file():
        raise StudyError(f"--data {options.data} does not exist")
    warm_window = check_windows(plan, settings, options)
    with connect(options) as client:
        study = Study(plan, settings, options, client, stream)
        study.preflight()
        if options.warm_up:
            warm = study.warm_up(warm_window)
            print(f"study: warm-up {warm_window.label} on {len(warm)} workers, "
                  f"slowest {max(warm.values()):.1f}s", file=stream, flush=True)
        link = dashboard(client)
        print(f"study: {plan.total_trials} trials x {len(plan.train)} windows on "
              f"{len(study.checked)} workers"
              + (f", dashboard {link}" if link else ""), file=stream, flush=True)
        return study.run()
