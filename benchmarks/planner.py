"""Planner benchmark (a script, not a test): ``.venv/bin/python benchmarks/planner.py``.

Standard scenario: 100 securities with 10 years of daily closes — the 20 real S&P 500
series of the bundled data cut into 5 different 10-year windows, spread over 3
currencies/country groups and 5 industries — 30 held positions, €20k cash, depth 5,
several thousand generated sequences, 500 Monte-Carlo paths.

Measures: the whole ``plan()`` (scoring + optimiser + generation + evaluation + beam
search) p50 over ≥ 5 runs after a warm-up; the evaluation kernel's sequences × paths per
second on the main batch; the plain NumPy reference (tests/reference_evaluation.py) on the
same batch and the ratio; that both pick the same top sequence; peak RSS. The last line of
output is one JSON object.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import resource
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from arduino_trader.domain.planner.evaluation import R_FEASIBLE, R_SCORE, evaluate  # noqa: E402
from arduino_trader.domain.planner.models import (  # noqa: E402
    Holding,
    PlanInput,
    PlannerSettings,
    SecurityInfo,
)
from arduino_trader.domain.planner.plan import evaluation_problem, plan  # noqa: E402
from arduino_trader.domain.scoring.scorers import Fundamentals  # noqa: E402
from tests.reference_evaluation import reference_evaluate  # noqa: E402

DATA = Path(__file__).resolve().parent.parent / "arduino_trader" / "data" / \
    "sp500_20_stocks_daily_close.csv.gz"
DAYS = 2520


def load_closes(path: Path = DATA) -> tuple[list[str], np.ndarray]:
    """Tickers and the closes matrix [ticker, day] (oldest first)."""
    with gzip.open(path, "rt") as fh:
        rows = list(csv.reader(fh))
    header = rows[0][1:]
    data = np.array([[float(x) if x else np.nan for x in r[1:]] for r in rows[1:]])
    return header, data.T.copy()


def build(n_securities: int = 100, n_held: int = 30, depth: int = 5, paths: int = 500,
          max_sequences: int = 4000, path: Path = DATA) -> PlanInput:
    """The benchmark's PlanInput (deterministic)."""
    tickers, closes = load_closes(path)
    t = closes.shape[1]
    windows = 5
    starts = np.linspace(0, t - DAYS, windows).astype(int)
    rng = np.random.default_rng(7)
    prices = np.empty((n_securities, DAYS))
    secs: list[SecurityInfo] = []
    currencies = [("EUR", 1.0, "DE", "EU"), ("USD", 1.08, "US", "US"),
                  ("HKD", 8.4, "HK", "ASIA")]
    industries = ["Technology", "Financials", "Healthcare", "Energy", "Consumer"]
    for i in range(n_securities):
        src = i % len(tickers)
        w = (i // len(tickers)) % windows
        series = closes[src, starts[w]:starts[w] + DAYS]
        cur, fx, country, _grp = currencies[i % 3]
        prices[i] = series / series[0] * 100 * fx
        ind = industries[i % 5] if i % 7 else f"{industries[i % 5]}, {industries[(i + 1) % 5]}"
        fund = Fundamentals(trailing_pe=float(rng.uniform(8, 40)),
                            forward_pe=float(rng.uniform(8, 35)),
                            profit_margin=float(rng.uniform(-0.05, 0.3)),
                            debt_to_equity=float(rng.uniform(10, 200)),
                            current_ratio=float(rng.uniform(0.6, 3)),
                            dividend_yield=float(rng.uniform(0, 0.05)),
                            payout_ratio=float(rng.uniform(0.1, 0.9)),
                            five_year_avg_dividend_yield=float(rng.uniform(0.005, 0.05)),
                            analyst_recommendation=float(rng.uniform(0.2, 1)),
                            target_upside=float(rng.uniform(-0.1, 0.3)))
        secs.append(SecurityInfo(f"{tickers[src]}.{w}", f"{tickers[src]} window {w}", cur, fx,
                                 country, ind, fundamentals=fund))
    holdings = []
    for i in range(n_held):
        j = i * n_securities // n_held
        last = prices[j, -1]
        value_eur = float(rng.uniform(1500, 9000))
        qty = max(1.0, round(value_eur * secs[j].fx_rate / last))
        holdings.append(Holding(secs[j].symbol, qty, float(last * rng.uniform(0.6, 1.3)),
                                float(rng.uniform(100, 2000)), float(rng.uniform(100, 900)),
                                None))
    settings = PlannerSettings(max_plan_depth=depth, monte_carlo_paths=paths,
                               max_sequences=max_sequences)
    return PlanInput(secs, prices, holdings, 20000.0,
                     country_to_group={"DE": "EU", "US": "US", "HK": "ASIA"},
                     country_targets={"EU": 0.5, "US": 0.3, "ASIA": 0.2},
                     industry_targets={g: 0.2 for g in industries}, regime_score=0.1,
                     settings=settings)


def _best(rows: np.ndarray) -> int:
    ok = np.flatnonzero(rows[1:, R_FEASIBLE] > 0) + 1
    return int(ok[np.argmax(rows[ok, R_SCORE])]) if ok.size else 0


def main() -> None:
    """Run the benchmark and print the JSON summary last."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--paths", type=int, default=500)
    ap.add_argument("--max-sequences", type=int, default=4000)
    ap.add_argument("--skip-reference", action="store_true")
    args = ap.parse_args()
    inp = build(paths=args.paths, max_sequences=args.max_sequences)
    t0 = time.perf_counter()
    first = plan(inp)  # warm-up: loads (or compiles) the Numba kernels
    warm_ms = (time.perf_counter() - t0) * 1000
    times = []
    result = first
    for _ in range(max(5, args.runs)):
        t0 = time.perf_counter()
        result = plan(inp)
        times.append((time.perf_counter() - t0) * 1000)
    print(f"plan: {result.status}: {result.reason}")
    for st in result.steps:
        print(f"  {st.step}. {st.side} {st.quantity} {st.symbol} ({st.category}) "
              f"€{st.estimated_value_eur:,.0f}  end state {st.score_before:.4f} → "
              f"{st.score_after:.4f}")
    print("timings of the last run (ms):", {k: round(v, 1) for k, v in result.timings_ms.items()})
    problem = evaluation_problem(inp)
    assert not isinstance(problem, str), problem
    ctx, batch, mult = problem.prepared.ctx, problem.batch, problem.scenarios
    evaluate(ctx, batch, mult)
    kt = []
    for _ in range(5):
        t0 = time.perf_counter()
        rows = evaluate(ctx, batch, mult)
        kt.append(time.perf_counter() - t0)
    kernel_s = statistics.median(kt)
    out: dict[str, object] = {
        "plan_p50_ms": round(statistics.median(times), 1),
        "plan_min_ms": round(min(times), 1), "plan_max_ms": round(max(times), 1),
        "runs": len(times), "first_plan_ms": round(warm_ms, 1),
        "status": result.status, "steps": len(result.steps),
        "evaluated_per_plan": result.evaluated_count, "beam_evaluated": result.beam_evaluated,
        "sequences": batch.count, "paths": int(mult.shape[0]),
        "kernel_ms": round(kernel_s * 1000, 2),
        "kernel_sequence_paths_per_s": round(batch.count * mult.shape[0] / kernel_s),
    }
    if not args.skip_reference:
        t0 = time.perf_counter()
        ref = reference_evaluate(ctx, batch, mult)
        ref_s = time.perf_counter() - t0
        out["reference_ms"] = round(ref_s * 1000, 1)
        out["ratio_vs_reference"] = round(ref_s / kernel_s, 1)
        out["max_abs_diff"] = float(np.max(np.abs(ref - rows)))
        out["identical_top"] = _best(ref) == _best(rows)
    out["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
