"""Satellite endpoints, prefix ``/api/satellites``.

Reads go to the store; every change is a command to the satellite manager actor, which
validates it with the domain rules and writes it in one transaction. Bad input is a 4xx
with a stable code and nothing written.
"""

from __future__ import annotations

import asyncio
import re
from decimal import Decimal
from typing import Any

from aiohttp import web

from arduino_trader.adapters.store import bucket_repo
from arduino_trader.adapters.store import satellites_repo as repo
from arduino_trader.domain.satellites import presets
from arduino_trader.protocols.satellite_records import ENTRY_TYPES
from arduino_trader.protocols.satellites import (
    SATELLITES_ACTOR,
    AllocateDeposit,
    ApplyAllocation,
    ApplyPreset,
    AssignSecurity,
    BucketEvent,
    BucketEventName,
    CheckReconciliation,
    CreateSatellite,
    GetBucketValues,
    InitializeFromBroker,
    PreviewAllocation,
    PutSettings,
    ReconcileCurrency,
    SatelliteRefused,
    SetSatelliteBudget,
    TransferCash,
    UpdateBucket,
)

from .bodies_satellites import (
    AssignSecurityBody,
    CreateSatelliteBody,
    DepositBody,
    PatchBucketBody,
    PresetBody,
    ReconcileBody,
    SatelliteSettingsBody,
    TransferBody,
    given,
)
from .body import read_struct
from .context import ctx_of
from .errors import ApiError, bad_request, not_found
from .helpers import ask_actor, json_response, query_decimal
from .router import ApiRouter, QueryParam

router = ApiRouter("satellites")
P = "/api/satellites"
ASK_TIMEOUT_S = 60.0
_CCY = re.compile(r"^[A-Z]{3}$")
OBJ: dict[str, Any] = {"type": "object"}
BUCKET_ERRORS = {404: "unknown bucket", 409: "refused by a lifecycle or balance rule"}


async def _command(request: web.Request, message: object, **details: Any) -> Any:
    """Ask the satellite manager; a refusal becomes its 4xx (with ``details``)."""
    reply = await ask_actor(request, SATELLITES_ACTOR, message, ASK_TIMEOUT_S)
    if isinstance(reply, SatelliteRefused):
        raise ApiError(reply.status, reply.code, reply.message, **details)
    return reply


def _decimal(raw: str, name: str) -> Decimal:
    """A query parameter within the size rule (:func:`.helpers.query_decimal`)."""
    return query_decimal(raw, name, code="invalid_field")


def _currency(value: object) -> str:
    if not isinstance(value, str) or not _CCY.match(value):
        raise bad_request("currency must be a 3-letter code like EUR", code="invalid_field",
                          field="currency")
    return value


async def _bucket_json(request: web.Request, bucket_id: str) -> dict[str, Any]:
    buckets = await asyncio.to_thread(bucket_repo.load_buckets, ctx_of(request).store)
    bucket = buckets.get(bucket_id)
    if bucket is None:
        raise not_found(f"unknown bucket {bucket_id!r}", code="unknown_bucket")
    return bucket.to_json()


# ------------------------------------------------------------------------ buckets
@router.route("GET", f"{P}/buckets", summary="All buckets", response={"type": "array"})
async def list_buckets(request: web.Request) -> web.Response:
    """Every bucket with its state."""
    buckets = await asyncio.to_thread(bucket_repo.load_buckets, ctx_of(request).store)
    return json_response([b.to_json() for b in buckets.values()])


@router.route("GET", f"{P}/buckets/{{bucket_id}}", summary="One bucket", response=OBJ,
              errors={404: "unknown bucket"})
async def get_bucket(request: web.Request) -> web.Response:
    """One bucket (404 when unknown)."""
    return json_response(await _bucket_json(request, request.match_info["bucket_id"]))


@router.route("POST", f"{P}/satellites", summary="Create a satellite", status=201,
              body=CreateSatelliteBody,
              response=OBJ, errors={400: "invalid id or name, or the id exists"})
async def create_satellite(request: web.Request) -> web.Response:
    """A new satellite, in research unless ``start_in_research`` is false."""
    body = await read_struct(request, CreateSatelliteBody)
    reply = await _command(request, CreateSatellite(body.id, body.name, body.notes,
                                                    body.start_in_research))
    return json_response(reply, status=201)


@router.route("PATCH", f"{P}/buckets/{{bucket_id}}",
              summary="Update name, notes, target_pct, min_pct, max_pct",
              body=PatchBucketBody,
              response=OBJ, errors={400: "empty or invalid update", **BUCKET_ERRORS})
async def patch_bucket(request: web.Request) -> web.Response:
    """Validated update: min ≤ target ≤ max (or target 0), Σ satellite targets ≤ budget."""
    body = given(await read_struct(request, PatchBucketBody))
    if not body:
        raise bad_request("nothing to update", code="empty_update")
    msg = UpdateBucket(request.match_info["bucket_id"], **body)
    return json_response(await _command(request, msg))


def _event_route(path: str, event: BucketEventName, summary: str) -> None:
    async def handler(request: web.Request) -> web.Response:
        reply = await _command(request, BucketEvent(request.match_info["bucket_id"], event))
        return json_response(reply)

    handler.__name__ = f"bucket_{event}"
    handler.__doc__ = summary
    router.route("POST", path, summary=summary, response=OBJ, errors=BUCKET_ERRORS)(handler)


_event_route(f"{P}/satellites/{{bucket_id}}/activate", "activate",
             "Activate a satellite (target must reach its floor)")
_event_route(f"{P}/buckets/{{bucket_id}}/pause", "pause", "Pause a bucket manually")
_event_route(f"{P}/buckets/{{bucket_id}}/resume", "resume", "Resume a paused bucket")
_event_route(f"{P}/buckets/{{bucket_id}}/hibernate", "hibernate",
             "Hibernate an active or accumulating satellite")
_event_route(f"{P}/satellites/{{bucket_id}}/retire", "retire",
             "Retire a paused satellite without cash or positions")


# ----------------------------------------------------------------------- settings
@router.route("GET", f"{P}/satellites/{{bucket_id}}/settings", summary="A satellite's settings",
              response=OBJ, errors={404: "no settings for this satellite"})
async def get_settings(request: web.Request) -> web.Response:
    """The stored settings (404 when the satellite has none)."""
    bucket_id = request.match_info["bucket_id"]
    settings = (await asyncio.to_thread(bucket_repo.load_settings,
                                        ctx_of(request).store)).get(bucket_id)
    if settings is None:
        raise not_found(f"no settings for {bucket_id!r}", code="no_settings")
    return json_response(settings.to_json())


@router.route("PUT", f"{P}/satellites/{{bucket_id}}/settings",
              summary="Replace a satellite's settings (validated)", body=SatelliteSettingsBody,
              response=OBJ,
              errors={400: "invalid settings", 404: "unknown bucket"})
async def put_settings(request: web.Request) -> web.Response:
    """Replace every setting; absent keys take their defaults."""
    body = given(await read_struct(request, SatelliteSettingsBody))
    body.pop("satellite_id", None)
    return json_response(await _command(request, PutSettings(request.match_info["bucket_id"],
                                                             body)))


@router.route("POST", f"{P}/satellites/{{bucket_id}}/apply-preset", body=PresetBody,
              summary="Apply a strategy preset {preset_name}",
              response=OBJ, errors={400: "unknown preset", 404: "unknown bucket"})
async def apply_preset(request: web.Request) -> web.Response:
    """Overwrite sliders, toggles and dividend handling with the preset's."""
    name = (await read_struct(request, PresetBody)).preset_name
    return json_response(await _command(request, ApplyPreset(request.match_info["bucket_id"],
                                                             name)))


@router.route("GET", f"{P}/presets", summary="Strategy presets",
              response={"type": "object", "required": ["presets"]})
async def list_presets(request: web.Request) -> web.Response:
    """{presets: [{name, description}]}."""
    return json_response({"presets": presets.describe()})


@router.route("GET", f"{P}/settings/allocation", summary="Allocation settings", response=OBJ)
async def get_allocation(request: web.Request) -> web.Response:
    """The allocation_settings table."""
    alloc = await asyncio.to_thread(bucket_repo.load_allocation, ctx_of(request).store)
    return json_response(dict(alloc.__dict__))


@router.route("PUT", f"{P}/settings/satellite-budget", summary="Set the satellite budget",
              query=(QueryParam("budget_pct", {"type": "string"}, "fraction 0..0.30", True),),
              response=OBJ, errors={400: "not a fraction", 409: "targets exceed it"})
async def put_budget(request: web.Request) -> web.Response:
    """0 ≤ budget ≤ 0.30; refused while Σ satellite targets exceed it."""
    if "budget_pct" not in request.query:
        raise bad_request("budget_pct is required", code="missing_field", field="budget_pct")
    budget = _decimal(request.query["budget_pct"], "budget_pct")
    return json_response(await _command(request, SetSatelliteBudget(budget)))


# ----------------------------------------------------------------------- balances
@router.route("GET", f"{P}/buckets/{{bucket_id}}/balances", summary="A bucket's balances",
              response={"type": "array"}, errors={404: "unknown bucket"})
async def bucket_balances(request: web.Request) -> web.Response:
    """[{bucket_id, currency, balance, last_updated}]."""
    bucket_id = request.match_info["bucket_id"]
    await _bucket_json(request, bucket_id)
    return json_response(await asyncio.to_thread(repo.balance_rows, ctx_of(request).store,
                                                 bucket_id))


@router.route("GET", f"{P}/balances/summary", summary="Balances of every bucket",
              response=OBJ)
async def balances_summary(request: web.Request) -> web.Response:
    """{bucket_id: {currency: balance}}."""
    out: dict[str, dict[str, str]] = {}
    for row in await asyncio.to_thread(repo.balance_rows, ctx_of(request).store):
        out.setdefault(row["bucket_id"], {})[row["currency"]] = row["balance"]
    return json_response(out)


@router.route("POST", f"{P}/balances/transfer", summary="Transfer cash between buckets",
              body=TransferBody, response=OBJ,
              errors={400: "bad input or no request_id", 404: "unknown bucket",
                      409: "refused by a balance rule, or request_id_reused"})
async def transfer(request: web.Request) -> web.Response:
    """Both legs in one transaction → {from_balance, to_balance, applied}; the same
    ``request_id`` again is a replay (``applied`` false), with another transfer a 409."""
    body = await read_struct(request, TransferBody)
    msg = TransferCash(body.from_bucket_id, body.to_bucket_id, body.amount, body.currency,
                       body.request_id, body.description)
    return json_response(await _command(request, msg, request_id=body.request_id))


@router.route("POST", f"{P}/balances/deposit", summary="Allocate a deposit across buckets",
              body=DepositBody, response=OBJ,
              errors={400: "bad amount or no request_id",
                      409: "refused (e.g. no FX rate), or request_id_reused"})
async def deposit(request: web.Request) -> web.Response:
    """Deficit-first split → {allocations, applied}; the same ``request_id`` again is a
    replay (``applied`` false), with another amount or currency a 409."""
    body = await read_struct(request, DepositBody)
    msg = AllocateDeposit(body.amount, body.currency, body.request_id, body.description)
    return json_response(await _command(request, msg, request_id=body.request_id))


@router.route("GET", f"{P}/buckets/{{bucket_id}}/transactions", summary="A bucket's ledger",
              query=(QueryParam("limit", {"type": "integer", "minimum": 1, "maximum": 1000,
                                          "default": 100}),
                     QueryParam("transaction_type", {"enum": list(ENTRY_TYPES)})),
              response={"type": "array"}, errors={400: "bad query", 404: "unknown bucket"})
async def bucket_transactions(request: web.Request) -> web.Response:
    """The newest rows first."""
    bucket_id = request.match_info["bucket_id"]
    raw = request.query.get("limit", "100")
    if not raw.isdigit() or not 1 <= int(raw) <= 1000:
        raise bad_request("limit must be a whole number in 1..1000", code="invalid_field",
                          field="limit")
    kind = request.query.get("transaction_type") or None
    if kind is not None and kind not in ENTRY_TYPES:
        raise bad_request(f"transaction_type must be one of {list(ENTRY_TYPES)}",
                          code="invalid_field", field="transaction_type")
    await _bucket_json(request, bucket_id)
    return json_response(await asyncio.to_thread(repo.transactions, ctx_of(request).store,
                                                 bucket_id,
                                                  limit=int(raw), entry_type=kind))


# ------------------------------------------------------------------ reconciliation
@router.route("POST", f"{P}/reconcile", summary="Reconcile one currency",
              body=ReconcileBody,
              response=OBJ, errors={400: "bad input", 409: "broker cash unavailable"})
async def reconcile(request: web.Request) -> web.Response:
    """Small gaps are corrected against core (audited); large ones reported, unchanged.
    Without ``actual_balance`` the live broker cash is used."""
    body = await read_struct(request, ReconcileBody)
    return json_response(await _command(request, ReconcileCurrency(
        body.currency, body.actual_balance, body.auto_correct_threshold)))


@router.route("POST", f"{P}/reconcile/initialize",
              summary="Take broker cash into core for currencies without ledger rows",
              response=OBJ, errors={409: "pending orders or cash flows, or broker down"})
async def reconcile_initialize(request: web.Request) -> web.Response:
    """First start of a ledger on an existing account; refused while anything pending."""
    return json_response(await _command(request, InitializeFromBroker()))


@router.route("GET", f"{P}/reconcile/{{currency}}/check", summary="Read-only check",
              query=(QueryParam("actual_balance", {"type": "string"}),),
              response=OBJ, errors={400: "bad input", 409: "broker cash unavailable"})
async def reconcile_check(request: web.Request) -> web.Response:
    """Virtual vs actual in one currency; writes nothing."""
    raw = request.query.get("actual_balance")
    actual = _decimal(raw, "actual_balance") if raw is not None else None
    return json_response(await _command(request, CheckReconciliation(
        _currency(request.match_info["currency"]), actual)))


@router.route("GET", f"{P}/reconcile/{{currency}}/breakdown",
              summary="Per-bucket balances in one currency", response=OBJ,
              errors={400: "bad currency"})
async def reconcile_breakdown(request: web.Request) -> web.Response:
    """{bucket_id: balance}."""
    currency = _currency(request.match_info["currency"])
    rows = await asyncio.to_thread(repo.balance_rows, ctx_of(request).store)
    return json_response({r["bucket_id"]: r["balance"] for r in rows
                          if r["currency"] == currency})


@router.route("GET", f"{P}/reconcile/history", summary="Recent reconciliation outcomes",
              response={"type": "array"})
async def reconcile_history(request: web.Request) -> web.Response:
    """The audit trail: corrections, reported and deferred gaps, newest first."""
    return json_response(await asyncio.to_thread(repo.audits, ctx_of(request).store))


# ------------------------------------------------------------------ meta-allocator
@router.route("GET", f"{P}/meta-allocator/preview", summary="Meta-allocator plan (no writes)",
              response=OBJ, errors={409: "limits cannot be met"})
async def allocator_preview(request: web.Request) -> web.Response:
    """The plan the evaluation job would apply."""
    return json_response(await _command(request, PreviewAllocation()))


@router.route("POST", f"{P}/meta-allocator/apply", summary="Apply the meta-allocator plan",
              response=OBJ, errors={409: "limits cannot be met; nothing applied"})
async def allocator_apply(request: web.Request) -> web.Response:
    """All targets or none."""
    return json_response(await _command(request, ApplyAllocation()))


@router.route("GET", f"{P}/values", summary="Bucket values, balances and aggression",
              response=OBJ)
async def bucket_values(request: web.Request) -> web.Response:
    """Per bucket: EUR value (null when unknown), balances, aggression components."""
    return json_response(await _command(request, GetBucketValues()))


@router.route("PUT", f"{P}/securities/{{isin}}/bucket",
              summary="Put a security in a bucket's universe",
              body=AssignSecurityBody,
              response=OBJ, errors={400: "bad input", 404: "unknown bucket or security"})
async def assign_security(request: web.Request) -> web.Response:
    """``core`` returns the security to core's universe."""
    bucket_id = (await read_struct(request, AssignSecurityBody)).bucket_id
    return json_response(await _command(request, AssignSecurity(request.match_info["isin"],
                                                                bucket_id)))
