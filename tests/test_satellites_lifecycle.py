"""The bucket lifecycle state machine: every allowed transition, every refusal explicit."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from arduino_trader.domain.satellites import lifecycle
from arduino_trader.domain.satellites.lifecycle import InvalidTransition
from arduino_trader.protocols.satellite_records import (
    STATUSES,
    Bucket,
    InvalidBucket,
    ReawakeningState,
)
from tests.satellites_helpers import T0, core, d, satellite

LATER = T0 + timedelta(hours=1)


def test_create_starts_in_research_or_accumulating() -> None:
    research = lifecycle.create_satellite("mom", "Momentum", now=T0, min_pct=d("0.02"),
                                          max_pct=d("0.15"))
    assert research.status == "research" and research.target_pct == 0
    assert research.max_consecutive_losses == 5 and research.high_water_mark == 0
    direct = lifecycle.create_satellite("dip", "Dips", now=T0, min_pct=d("0.02"),
                                        max_pct=d("0.15"), start_in_research=False)
    assert direct.status == "accumulating"


@pytest.mark.parametrize("bad_id", ["core", "mom"])
def test_create_refuses_existing_ids(bad_id: str) -> None:
    with pytest.raises(InvalidBucket):
        lifecycle.create_satellite(bad_id, "x", now=T0, min_pct=d("0.02"),
                                   max_pct=d("0.15"), existing_ids=frozenset({"mom"}))


def test_bucket_record_rejects_inconsistent_core() -> None:
    with pytest.raises(InvalidBucket):
        Bucket(id="core", name="c", type="satellite", status="active", created_at=T0,
               updated_at=T0)
    with pytest.raises(InvalidBucket):
        satellite(target="1.5")
    with pytest.raises(InvalidBucket):
        satellite(min_pct="0.2", max_pct="0.1")


def test_activate_needs_the_floor() -> None:
    low = satellite(status="research", target="0")
    with pytest.raises(InvalidTransition, match="below the floor"):
        lifecycle.activate(low, LATER)
    ready = satellite(status="accumulating", target="0.05")
    active = lifecycle.activate(ready, LATER)
    assert active.status == "active" and active.updated_at == LATER
    with pytest.raises(InvalidTransition):
        lifecycle.activate(active, LATER)
    with pytest.raises(InvalidTransition):
        lifecycle.activate(core(), LATER)


@pytest.mark.parametrize("status", [s for s in STATUSES if s not in ("paused", "retired")])
def test_pause_from_any_live_status(status: str) -> None:
    bucket = satellite(status=status)  # type: ignore[arg-type]
    assert lifecycle.pause(bucket, LATER).status == "paused"


@pytest.mark.parametrize("status", ["paused", "retired"])
def test_pause_refused_when_paused_or_retired(status: str) -> None:
    with pytest.raises(InvalidTransition):
        lifecycle.pause(satellite(status=status), LATER)  # type: ignore[arg-type]


def test_resume_goes_active_or_accumulating_and_resets_the_streak() -> None:
    paused = satellite(status="paused", losses=5)
    paused = paused.touched(T0, loss_streak_paused_at=T0)
    resumed = lifecycle.resume(paused, LATER)
    assert resumed.status == "active"
    assert resumed.consecutive_losses == 0 and resumed.loss_streak_paused_at is None
    assert lifecycle.resume(satellite(status="paused", target="0"), LATER).status \
        == "accumulating"
    with pytest.raises(InvalidTransition, match="only paused"):
        lifecycle.resume(satellite(status="hibernating"), LATER)


def test_hibernate_only_trading_satellites() -> None:
    for status in ("active", "accumulating"):
        assert lifecycle.hibernate(satellite(status=status), LATER).status == "hibernating"  # type: ignore[arg-type]
    for status in ("paused", "research", "hibernating", "retired"):
        with pytest.raises(InvalidTransition):
            lifecycle.hibernate(satellite(status=status), LATER)  # type: ignore[arg-type]
    with pytest.raises(InvalidTransition, match="core never hibernates"):
        lifecycle.hibernate(core(), LATER)


def test_recover_is_its_own_transition_and_starts_reawakening() -> None:
    recovered = lifecycle.recover(satellite(status="hibernating"), LATER)
    assert recovered.status == "active"
    assert recovered.reawakening == ReawakeningState(stage=1, wins=0, trades=0)
    assert lifecycle.recover(satellite(status="hibernating", target="0"), LATER).status \
        == "accumulating"
    with pytest.raises(InvalidTransition):
        lifecycle.recover(satellite(status="paused"), LATER)


def test_breaker_pause_needs_the_loss_limit() -> None:
    with pytest.raises(InvalidTransition):
        lifecycle.breaker_pause(satellite(losses=4), LATER)
    paused = lifecycle.breaker_pause(satellite(losses=5), LATER)
    assert paused.status == "paused" and paused.loss_streak_paused_at == LATER
    with pytest.raises(InvalidTransition, match="never auto-paused"):
        lifecycle.breaker_pause(core().touched(T0, consecutive_losses=9), LATER)


def test_retire_needs_paused_no_cash_no_positions() -> None:
    paused = satellite(status="paused")
    with pytest.raises(InvalidTransition, match="pause the bucket first"):
        lifecycle.retire(satellite(), LATER, cash={}, open_positions=0)
    with pytest.raises(InvalidTransition, match="cash left"):
        lifecycle.retire(paused, LATER, cash={"EUR": d("0.02")}, open_positions=0)
    with pytest.raises(InvalidTransition, match="open positions"):
        lifecycle.retire(paused, LATER, cash={"EUR": d("0.01")}, open_positions=1)
    retired = lifecycle.retire(paused, LATER, cash={"EUR": d("0.01"), "USD": d("-0.01")},
                               open_positions=0)
    assert retired.status == "retired" and retired.target_pct == Decimal(0)
    with pytest.raises(InvalidTransition):
        lifecycle.retire(core().touched(T0, status="paused"), LATER, cash={},
                         open_positions=0)
    for event in (lifecycle.pause, lifecycle.resume, lifecycle.hibernate, lifecycle.recover,
                  lifecycle.activate):
        with pytest.raises(InvalidTransition):
            event(retired, LATER)


def test_invalid_transition_names_bucket_status_and_event() -> None:
    with pytest.raises(InvalidTransition) as info:
        lifecycle.resume(satellite("x1", status="active"), LATER)
    assert info.value.bucket_id == "x1" and info.value.status == "active"
    assert info.value.event == "resume" and info.value.code == "invalid_transition"
