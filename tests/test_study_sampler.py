"""The TPE search is ask/tell in the driver: the same seed asks the same trials, whatever
order their windows finish in, and a failed trial is told as failed (the study goes on).
The backtests are replaced by a known score so only the driver's loop is under test."""

from __future__ import annotations

import io
import random
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("optuna")

from arduino_trader.config.settings import defaults
from arduino_trader.daemon.study.driver import Progress, Study, StudyOptions
from arduino_trader.daemon.study.plan import build_plan


def _search(tmp_path: Path, seed: int, shuffle: int | None) -> dict[int, dict[str, Any]]:
    plan = build_plan(windows=["2019-01-02:2019-01-09"], oos="2019-01-10:2019-01-17",
                      search=["beam_width=1:20", "risk_free_rate=0:0.05"], trials=12,
                      seed=seed)
    study = Study(plan, defaults(), StudyOptions(out=tmp_path, batch=4), None, io.StringIO())

    def fake_train(trials: list[int], progress: Progress) -> None:
        order = list(trials)
        if shuffle is not None:
            random.Random(shuffle).shuffle(order)  # windows finish in another order
        for t in order:
            width = study.settings[t]["beam_width"]
            ok = width != 7  # one value fails: recorded, not fatal
            study.train[t] = [{"status": "ok" if ok else "error", "sharpe": -(width - 12) ** 2,
                               "error": "" if ok else "boom", "window": "w"}]

    study._train = fake_train  # type: ignore[method-assign]
    study._sample(Progress(12, io.StringIO(), None))
    return study.settings


def test_the_same_seed_asks_the_same_trials_whatever_the_completion_order(
        tmp_path: Path) -> None:
    first = _search(tmp_path / "a", seed=7, shuffle=None)
    again = _search(tmp_path / "b", seed=7, shuffle=3)
    other = _search(tmp_path / "c", seed=8, shuffle=None)
    assert len(first) == 12
    assert first == again
    assert first != other
    for values in first.values():
        assert 1 <= values["beam_width"] <= 20 and isinstance(values["beam_width"], int)
        assert 0.0 <= values["risk_free_rate"] <= 0.05
