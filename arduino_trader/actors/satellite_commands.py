"""The satellite manager's API commands: create a satellite, edit a bucket, its status
transitions, settings and presets, cash transfers between buckets, a deposit allocation,
the satellite budget and a security's bucket. Each returns JSON-ready data or raises a
:class:`SatelliteError` before anything is written."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from arduino_trader.domain.satellites import balances, lifecycle, presets, targets
from arduino_trader.domain.satellites.balances import BalanceError, UnknownBucket
from arduino_trader.protocols.bucket_ledger import Operation
from arduino_trader.protocols.money import ZERO
from arduino_trader.protocols.satellite_records import (
    CORE_ID,
    Bucket,
    InvalidBucket,
    SatelliteSettings,
)
from arduino_trader.protocols.satellites import (
    AllocateDeposit,
    ApplyPreset,
    AssignSecurity,
    BucketEvent,
    CreateSatellite,
    PutSettings,
    SetSatelliteBudget,
    TransferCash,
    UpdateBucket,
)

from .base import ActorContext
from .satellite_book import BookReader, load_book
from .satellite_reports import allocation_json
from .satellite_settlement import deposit_entries
from .satellite_state import (
    hwm_shifts,
    known,
    load_state,
    read_facts,
    write_operation,
)

Row = tuple[str, str, Decimal]
"""A ledger row's bucket, currency and signed amount."""


class RequestIdReused(BalanceError):
    """A request id already keys ledger rows of another request (API: 409)."""

    code = "request_id_reused"

    def __init__(self, request_id: str, what: str, rows: list[Row]) -> None:
        done = ", ".join(f"{b} {a} {c}" for b, c, a in rows)
        super().__init__(f"request_id {request_id!r} was already used for {what} ({done}); "
                         "a new request needs a new request_id")


def _rows_of(book: balances.BalanceBook, kind: str, source_id: str) -> list[Row]:
    """The rows the request ``source_id`` wrote (its content, to compare a retry with)."""
    return [(e.bucket_id, e.currency, e.amount) for e in book.entries
            if e.source_kind == kind and e.source_id == source_id]


def create_satellite(ctx: ActorContext, log: Any, msg: CreateSatellite) -> dict[str, Any]:
    """A new satellite within the allocation's limits."""
    now = ctx.clock.now()
    buckets = ctx.deps.buckets.load_buckets()
    alloc = ctx.deps.buckets.load_allocation()
    bucket = lifecycle.create_satellite(
        msg.bucket_id.strip(), msg.name, now=now, min_pct=alloc.satellite_min_pct,
        max_pct=alloc.satellite_max_pct, notes=msg.notes,
        start_in_research=msg.start_in_research, existing_ids=frozenset(buckets))
    ctx.deps.buckets.save_buckets([bucket])
    log.info("satellite_created", bucket_id=bucket.id, status=bucket.status)
    return bucket.to_json()


def update_bucket(ctx: ActorContext, msg: UpdateBucket) -> dict[str, Any]:
    """A bucket's name, notes, target and limits (core's target follows)."""
    now = ctx.clock.now()
    buckets = ctx.deps.buckets.load_buckets()
    known(buckets, msg.bucket_id)
    alloc = ctx.deps.buckets.load_allocation()
    out = targets.update_bucket(buckets, msg.bucket_id, now,
                                budget=alloc.satellite_budget_pct, name=msg.name,
                                notes=msg.notes, target_pct=msg.target_pct,
                                min_pct=msg.min_pct, max_pct=msg.max_pct)
    ctx.deps.buckets.save_buckets([b for k, b in out.items()
                                          if b is not buckets.get(k)])
    return out[msg.bucket_id].to_json()


def bucket_event(ctx: ActorContext, log: Any, books: BookReader,
                 msg: BucketEvent) -> dict[str, Any]:
    """One status transition (activate, pause, resume, hibernate, retire)."""
    now = ctx.clock.now()
    state = load_state(ctx, books)
    bucket = known(state.buckets, msg.bucket_id)
    if msg.event == "activate":
        new = lifecycle.activate(bucket, now)
    elif msg.event == "pause":
        new = lifecycle.pause(bucket, now)
    elif msg.event == "resume":
        new = lifecycle.resume(bucket, now)
    elif msg.event == "hibernate":
        new = lifecycle.hibernate(bucket, now)
    elif msg.event == "retire":
        held = read_facts(ctx).holdings().get(bucket.id, {})
        new = lifecycle.retire(bucket, now, cash=state.book.balances_of(bucket.id),
                               open_positions=len(held))
    else:
        raise InvalidBucket(f"unknown event {msg.event!r}")
    out = targets.with_core_target({**state.buckets, bucket.id: new}, now)
    ctx.deps.buckets.save_buckets([b for k, b in out.items()
                                          if b is not state.buckets.get(k)])
    log.info("bucket_status", bucket_id=bucket.id, transition=msg.event,
             previous=bucket.status, status=new.status)
    return new.to_json()


def satellite(ctx: ActorContext, satellite_id: str) -> Bucket:
    """The satellite ``satellite_id`` (core has no satellite settings)."""
    bucket = known(ctx.deps.buckets.load_buckets(), satellite_id)
    if bucket.is_core:
        raise InvalidBucket("core has no satellite settings")
    return bucket


def put_settings(ctx: ActorContext, msg: PutSettings) -> dict[str, Any]:
    """Replace a satellite's settings."""
    satellite(ctx, msg.satellite_id)
    settings = SatelliteSettings.from_mapping(msg.satellite_id, msg.data)
    ctx.deps.buckets.save_settings(settings, ctx.clock.now())
    return settings.to_json()


def apply_preset(ctx: ActorContext, msg: ApplyPreset) -> dict[str, Any]:
    """A preset's sliders over a satellite's settings."""
    satellite(ctx, msg.satellite_id)
    current = ctx.deps.buckets.load_settings().get(msg.satellite_id)
    settings = presets.apply_preset(current or SatelliteSettings(msg.satellite_id),
                                    msg.preset)
    ctx.deps.buckets.save_settings(settings, ctx.clock.now())
    return settings.to_json()


def transfer_cash(ctx: ActorContext, log: Any, books: BookReader,
                  msg: TransferCash) -> dict[str, Any]:
    """Move cash between two buckets (core keeps its floor). Once per request id: the
    same transfer again (the rows under the id match it) is a replay, another one is
    refused with :class:`RequestIdReused`."""
    now = ctx.clock.now()
    state = load_state(ctx, books)
    known(state.buckets, msg.from_bucket_id)
    known(state.buckets, msg.to_bucket_id)
    facts = read_facts(ctx)
    floor = None
    if ctx.deps.bucket_ledger.has_source("manual", msg.request_id):
        done = _rows_of(state.book, "manual", msg.request_id)
        legs = [(msg.from_bucket_id, msg.currency, -msg.amount),
                (msg.to_bucket_id, msg.currency, msg.amount)]
        if sorted(done) != sorted(legs):
            raise RequestIdReused(msg.request_id, "another transfer", done)
        return {"from_balance": state.book.balance(msg.from_bucket_id, msg.currency),
                "to_balance": state.book.balance(msg.to_bucket_id, msg.currency),
                "currency": msg.currency, "applied": False}
    if msg.from_bucket_id == CORE_ID:
        alloc = ctx.deps.buckets.load_allocation()
        valuation = facts.valuation(state.buckets, state.book)
        core_value = valuation.values.get(CORE_ID)
        floor = balances.CoreFloor(
            core_value_eur=core_value if core_value is not None else ZERO,
            total_value_eur=valuation.total if valuation.total is not None else ZERO,
            satellite_budget=alloc.satellite_budget_pct,
            eur_per_unit=facts.eur_per(msg.currency))
    entries = balances.transfer(state.book, state.buckets, msg.from_bucket_id,
                                msg.to_bucket_id, msg.amount, msg.currency,
                                msg.request_id, now, core_floor=floor,
                                description=msg.description)
    op = Operation(entries, hwm_shifts(log, state.buckets, entries, facts, now),
                        source=("manual", msg.request_id))
    result = write_operation(ctx, op)
    book = load_book(ctx.deps.bucket_ledger)
    log.info("bucket_transfer", from_bucket=msg.from_bucket_id,
             to_bucket=msg.to_bucket_id, amount=str(msg.amount),
             currency=msg.currency, replay=result is None)
    return {"from_balance": book.balance(msg.from_bucket_id, msg.currency),
            "to_balance": book.balance(msg.to_bucket_id, msg.currency),
            "currency": msg.currency, "applied": result is not None}


def allocate_deposit(ctx: ActorContext, log: Any, books: BookReader,
                     msg: AllocateDeposit) -> dict[str, Any]:
    """Split an API deposit over the buckets. Once per request id: the same amount and
    currency again (the rows under the id sum to it) is a replay, another deposit is
    refused with :class:`RequestIdReused`."""
    state, facts = load_state(ctx, books), read_facts(ctx)
    source_id = f"api:{msg.request_id}"
    if ctx.deps.bucket_ledger.has_source("cash_flow", source_id):
        done = _rows_of(state.book, "cash_flow", source_id)
        if ({c for _, c, _ in done} != {msg.currency}
                or sum((a for _, _, a in done), ZERO) != msg.amount):
            raise RequestIdReused(msg.request_id, "another deposit", done)
        return {"allocations": {b: a for b, _, a in done},
                "currency": msg.currency, "applied": False}
    entries = deposit_entries(ctx, log, msg.amount, msg.currency, source_id, state, facts,
                              msg.description)
    shifted = hwm_shifts(log, state.buckets, entries, facts, ctx.clock.now())
    result = write_operation(ctx, Operation(entries, shifted,
                                                 source=("cash_flow", source_id)))
    return {"allocations": {e.bucket_id: e.amount for e in entries},
            "currency": msg.currency, "applied": result is not None}


def set_budget(ctx: ActorContext, msg: SetSatelliteBudget) -> dict[str, Any]:
    """The satellites' total budget (core's target follows)."""
    now = ctx.clock.now()
    buckets = ctx.deps.buckets.load_buckets()
    alloc = ctx.deps.buckets.load_allocation()
    new = targets.set_budget(alloc, buckets, msg.budget_pct)
    out = targets.with_core_target(buckets, now)
    ctx.deps.buckets.save_allocation_value(
        "satellite_budget_pct", new.satellite_budget_pct, now,
        [b for k, b in out.items() if b is not buckets.get(k)])
    return allocation_json(new)


def assign_security(ctx: ActorContext, msg: AssignSecurity) -> dict[str, Any]:
    """Put a security in a (non-retired) bucket's universe."""
    bucket = known(ctx.deps.buckets.load_buckets(), msg.bucket_id)
    if bucket.status == "retired":
        raise InvalidBucket(f"bucket {bucket.id!r} is retired")
    if not ctx.deps.buckets.assign_security(msg.isin, bucket.id,
                                       ctx.clock.now()):
        raise UnknownBucket(f"unknown security {msg.isin!r}")
    return {"isin": msg.isin, "bucket_id": bucket.id}
