"""The study directory: ``trials.csv`` (one row per trial x window, appended as results
arrive, so a re-run skips what is done) and ``summary.json``."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from .plan import StudyPlan
from .stats import deflated_sharpe, moments, pool
from .trial import ROW_FIELDS

TRIALS_FILE = "trials.csv"
SUMMARY_FILE = "summary.json"
PLAN_FILE = "plan.json"


class ResultStore:
    """Rows of one study directory, keyed by (trial, phase, window)."""

    def __init__(self, directory: Path, plan_text: str) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        plan_path = directory / PLAN_FILE
        if plan_path.is_file() and plan_path.read_text(encoding="utf-8") != plan_text:
            raise ValueError(f"{directory} holds another study (its {PLAN_FILE} differs); "
                             "use a new directory")
        plan_path.write_text(plan_text, encoding="utf-8")
        self.path = directory / TRIALS_FILE
        self.rows: dict[tuple[int, str, str], dict[str, Any]] = {}
        if self.path.is_file():
            with self.path.open(newline="", encoding="utf-8") as handle:
                for row in csv.DictReader(handle):
                    if row.get("status") == "ok":  # failed rows run again
                        self.rows[(int(row["trial"]), row["phase"], row["window"])] = row

    def done(self, trial: int, phase: str, window: str) -> dict[str, Any] | None:
        """The recorded successful row, if any."""
        return self.rows.get((trial, phase, window))

    def add(self, row: Mapping[str, Any]) -> None:
        """Append one row (flushed at once)."""
        new = not self.path.is_file()
        with self.path.open("a", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=ROW_FIELDS)
            if new:
                writer.writeheader()
            writer.writerow({k: row.get(k, "") for k in ROW_FIELDS})
        if row["status"] == "ok":
            self.rows[(int(row["trial"]), str(row["phase"]), str(row["window"]))] = dict(row)

    def rewrite_sorted(self) -> None:
        """Rewrite the CSV with the latest row of each key, in trial order."""
        latest: dict[tuple[int, str, str], dict[str, Any]] = {}
        with self.path.open(newline="", encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                latest[(int(row["trial"]), row["phase"], row["window"])] = row
        with self.path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=ROW_FIELDS)
            writer.writeheader()
            for key in sorted(latest):
                writer.writerow(latest[key])


def trial_score(rows: Sequence[Mapping[str, Any]]) -> float | None:
    """A trial's score: the mean annualised Sharpe ratio over its training windows;
    None when a window failed."""
    if not rows or any(r["status"] != "ok" for r in rows):
        return None
    return sum(float(r["sharpe"]) for r in rows) / len(rows)


def summary(plan: StudyPlan, settings: Mapping[int, Mapping[str, Any]],
            train: Mapping[int, Sequence[Mapping[str, Any]]],
            oos: Mapping[int, Mapping[str, Any]], workers: Mapping[str, float],
            wall_s: float) -> dict[str, Any]:
    """The JSON summary: best settings, in-sample vs out-of-sample, the deflated Sharpe
    ratio of the best trial over every scored trial, each worker's peak RSS."""
    scores = {t: s for t in sorted(train) if (s := trial_score(train[t])) is not None}
    failed = {t: [r["error"] for r in train[t] if r["status"] != "ok"]
              for t in sorted(train) if t not in scores}
    ranked = sorted(scores, key=lambda t: (-scores[t], t))
    pooled = {t: pool([json.loads(r["moment_sums"]) for r in train[t]]) for t in scores}
    per_trial = {t: m.sharpe for t in scores if (m := moments(pooled[t])) is not None}
    best: dict[str, Any] | None = None
    if ranked:
        b = ranked[0]
        selected = moments(pooled[b])
        best = {"trial": b, "settings": dict(settings[b]),
                "in_sample": {"sharpe": scores[b], "windows": _figures(train[b])},
                "out_of_sample": _figures([oos[b]])[0] if b in oos else None,
                "deflated_sharpe_ratio": (deflated_sharpe(selected, list(per_trial.values()))
                                          if selected else None),
                "trials_in_deflation": len(per_trial)}
    return {"trials": plan.total_trials, "scored": len(scores), "failed": len(failed),
            "failures": {str(t): e for t, e in failed.items()},
            "keys": plan.keys, "seed": plan.seed,
            "train_windows": [w.label for w in plan.train], "oos_window": plan.oos.label,
            "best": best,
            "top": [{"trial": t, "settings": dict(settings[t]), "in_sample_sharpe": scores[t],
                     "out_of_sample": _figures([oos[t]])[0] if t in oos else None}
                    for t in ranked[:plan.top]],
            "workers_peak_rss_mb": dict(sorted(workers.items())),
            "wall_s": round(wall_s, 1)}


def _figures(rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for r in rows:
        if r["status"] != "ok":
            out.append({"window": r["window"], "error": r["error"]})
            continue
        out.append({"window": r["window"], "sharpe": float(r["sharpe"]),
                    "cagr": float(r["cagr"]), "max_drawdown": float(r["max_drawdown"]),
                    "total_return": float(r["total_return"]), "orders": int(r["orders"])})
    return out


def write_summary(directory: Path, data: Mapping[str, Any]) -> Path:
    """Write ``summary.json``."""
    path = directory / SUMMARY_FILE
    path.write_text(json.dumps(data, indent=2, sort_keys=True), encoding="utf-8")
    return path
