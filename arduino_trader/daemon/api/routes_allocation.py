"""Allocation endpoints: country/industry groups, targets,
current vs target with the ±2 % band, and concentration alerts.

Positions are valued in EUR from the broker account and the stored FX rates (a missing
rate is a 503, never 1:1); cash is not part of the allocation total. Bad input is a 400
and writes nothing.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any, Literal, cast

from aiohttp import web

from arduino_trader.actors.cash_flow_allocation import build_holdings, securities_by_symbol
from arduino_trader.adapters.store import allocation_repo as groups_repo
from arduino_trader.adapters.store import bucket_repo, fx_tables
from arduino_trader.domain.allocation import (
    AllocationError,
    AllocationRow,
    Holding,
    buckets_vs_target,
    clean_members,
    concentration_alerts,
    current_vs_target,
    exposure,
    validate_targets,
)
from arduino_trader.domain.cash_flows.fx import MissingRate
from arduino_trader.protocols.broker import Broker
from arduino_trader.protocols.broker_errors import BrokerError
from arduino_trader.protocols.money import CENT
from arduino_trader.protocols.satellites import SATELLITES_ACTOR, GetBucketValues

from .bodies_cash import GroupBody, TargetsBody
from .bodies_satellites import given
from .body import read_struct
from .context import ctx_of
from .errors import ApiError, bad_request, not_found
from .helpers import ask_actor, json_response
from .router import ApiRouter

router = ApiRouter("allocation")
Kind = Literal["country", "industry"]
_OBJ: dict[str, Any] = {"type": "object"}
_PCT = Decimal("0.0001")


def _kind(request: web.Request) -> Kind:
    kind = request.match_info["kind"]
    if kind not in ("country", "industry"):
        raise not_found(f"no group kind {kind!r}", code="unknown_kind")
    return cast(Kind, kind)


async def _holdings(request: web.Request) -> tuple[list[Holding], Decimal]:
    """EUR-valued positions with country/industry, and EUR cash."""
    ctx = ctx_of(request)
    broker: Broker | None = ctx.broker
    if broker is None:
        raise ApiError(503, "broker_unavailable", "no broker is wired into this daemon")
    try:
        account = await asyncio.wait_for(broker.account(), 60)
    except (BrokerError, TimeoutError) as exc:
        raise ApiError(503, "broker_unavailable", str(exc)) from None
    rates = await asyncio.to_thread(fx_tables.load_rates,
                                    # one FX age rule: a stale rate values nothing
        ctx.store, ctx.settings.current().typed.market_data.fx_max_age_days,
        ctx.clock.now().date())
    secs = await asyncio.to_thread(securities_by_symbol, ctx.store)
    try:
        holdings = build_holdings(account, secs, rates)
        cash = sum((c.amount * rates.eur_per(c.currency) for c in account.cash), Decimal(0))
    except MissingRate as exc:
        raise ApiError(503, "missing_rate", str(exc)) from None
    return holdings, cash.quantize(CENT)


def _row(r: AllocationRow) -> dict[str, Any]:
    return {"name": r.name, "target_pct": r.target_pct, "current_pct": r.current_pct,
            "current_value": r.current_value, "deviation": r.deviation, "status": r.status,
            "need": r.need}


async def _group_rows(request: web.Request, holdings: list[Holding],
                      kind: Kind) -> list[AllocationRow]:
    store = ctx_of(request).store
    members = await asyncio.to_thread(groups_repo.available, store, kind)
    return current_vs_target(holdings, kind, await asyncio.to_thread(groups_repo.groups, store,
                                                                     kind),
                             await asyncio.to_thread(groups_repo.targets, store, kind), members)


@router.route("GET", "/api/allocation/targets", summary="Group targets per kind",
              response=_OBJ)
async def targets(request: web.Request) -> web.Response:
    """{country: {group: pct}, industry: {...}}."""
    store = ctx_of(request).store
    return json_response({k: await asyncio.to_thread(groups_repo.targets, store, k)
                          for k in ("country", "industry")})


@router.route("GET", "/api/allocation/current", summary="Current allocation by country and "
              "industry, with concentration alerts", response=_OBJ,
              errors={503: "broker or FX rate unavailable"})
async def current(request: web.Request) -> web.Response:
    """{total_value, cash_balance, country[], industry[], alerts[]}."""
    holdings, cash = await _holdings(request)
    total = sum((h.value_eur for h in holdings), Decimal(0))

    def rows(kind: Kind) -> list[dict[str, Any]]:
        values = exposure(holdings, kind)
        return [{"name": n, "current_value": v.quantize(CENT),
                 "current_pct": (v / total).quantize(_PCT) if total > 0 else Decimal(0)}
                for n, v in sorted(values.items())]

    return json_response({"total_value": total.quantize(CENT), "cash_balance": cash,
                          "country": rows("country"), "industry": rows("industry"),
                          "alerts": [a.__dict__ for a in concentration_alerts(holdings, cash)]})


@router.route("GET", "/api/trades/allocation", summary="Allocation vs targets by country and "
              "industry with concentration alerts", response=_OBJ,
              errors={503: "broker or FX rate unavailable"})
async def trades_allocation(request: web.Request) -> web.Response:
    """{total_value, cash_balance, country[], industry[], alerts[]}; rows
    {name, target_pct, current_pct, current_value, deviation, status}."""
    holdings, cash = await _holdings(request)
    total = sum((h.value_eur for h in holdings), Decimal(0))
    body: dict[str, Any] = {"total_value": total.quantize(CENT), "cash_balance": cash}
    for kind in ("country", "industry"):
        body[kind] = [_row(r) for r in await _group_rows(request, holdings, kind)]
    body["alerts"] = [a.__dict__ for a in concentration_alerts(holdings, cash)]
    return json_response(body)


@router.route("GET", "/api/allocation/deviations", summary="Group deviations from target",
              response=_OBJ, errors={503: "broker or FX rate unavailable"})
async def deviations(request: web.Request) -> web.Response:
    """{country: {group: {deviation, need, status}}, industry: {...}}."""
    holdings, _ = await _holdings(request)
    out: dict[str, Any] = {}
    for kind in ("country", "industry"):
        out[kind] = {r.name: {"deviation": r.deviation, "need": r.need, "status": r.status}
                     for r in await _group_rows(request, holdings, kind)}
    return json_response(out)


@router.route("GET", "/api/allocation/groups/allocation", summary="Group-level current vs "
              "target", response=_OBJ, errors={503: "broker or FX rate unavailable"})
async def group_allocation(request: web.Request) -> web.Response:
    """Group rows per kind."""
    holdings, _ = await _holdings(request)
    return json_response({kind: [_row(r) for r in await _group_rows(request, holdings, kind)]
                          for kind in ("country", "industry")})


@router.route("GET", "/api/allocation/overview", summary="Current vs target by country "
              "group, industry group and bucket, with drift (the planner's targets)",
              response={"type": "object", "required": ["country", "industry", "bucket"]},
              errors={503: "broker or FX rate unavailable"})
async def overview(request: web.Request) -> web.Response:
    """The dashboard's allocation panel: group rows from the owner's targets (the ones
    the planner reads) and bucket rows from each bucket's ``target_pct`` against its EUR
    value (null rows' values and ``missing`` when the satellite manager cannot value)."""
    holdings, cash = await _holdings(request)
    body: dict[str, Any] = {"total_value": sum((h.value_eur for h in holdings),
                                               Decimal(0)).quantize(CENT),
                            "cash_balance": cash}
    for kind in ("country", "industry"):
        body[kind] = [_row(r) for r in await _group_rows(request, holdings, kind)]
    buckets = await asyncio.to_thread(bucket_repo.load_buckets, ctx_of(request).store)
    targets = {b: bucket.target_pct for b, bucket in buckets.items()
               if bucket.status != "retired"}
    values = await ask_actor(request, SATELLITES_ACTOR, GetBucketValues(), 60.0)
    if not isinstance(values, dict):
        raise ApiError(503, "buckets_unavailable", f"bucket values: {values}")
    known = {b: Decimal(str(v["value_eur"])) for b, v in values.items()
             if b in targets and v.get("value_eur") is not None}
    body["bucket"] = [_row(r) for r in buckets_vs_target(known, targets)]
    body["missing"] = sorted(set(targets) - set(known))
    return json_response(body)


@router.route("GET", "/api/allocation/groups/available/countries", summary="Countries of "
              "the securities", response=_OBJ)
async def available_countries(request: web.Request) -> web.Response:
    """Distinct countries."""
    return json_response({"countries": await asyncio.to_thread(groups_repo.available,
                                                               ctx_of(request).store,
                                                                   "country")})


@router.route("GET", "/api/allocation/groups/available/industries", summary="Industries of "
              "the securities", response=_OBJ)
async def available_industries(request: web.Request) -> web.Response:
    """Distinct industries (comma lists split)."""
    return json_response({"industries": await asyncio.to_thread(groups_repo.available,
                                                                ctx_of(request).store,
                                                                    "industry")})


@router.route("PUT", "/api/allocation/groups/targets/{kind}", summary="Replace the group "
              "targets of a kind ([0, 1] each, at most 1 together, existing groups only)",
              body=TargetsBody,
              response=_OBJ,
              errors={400: "invalid"})
async def put_targets(request: web.Request) -> web.Response:
    """{targets: {group: w}} → {weights (non-zero), count}."""
    ctx = ctx_of(request)
    kind = _kind(request)
    raw = (await read_struct(request, TargetsBody)).targets
    known = await asyncio.to_thread(groups_repo.groups, ctx.store, kind)
    try:
        weights = validate_targets(raw, known)
    except AllocationError as exc:
        raise bad_request(str(exc), code="invalid_target") from None
    await asyncio.to_thread(groups_repo.set_targets, ctx.store, kind, weights, ctx.clock.now())
    return json_response({"weights": weights, "count": len(weights)})


@router.route("GET", "/api/allocation/groups/{kind}", summary="Groups of a kind with their "
              "members", response=_OBJ)
async def get_groups(request: web.Request) -> web.Response:
    """{groups: {name: [members]}}."""
    return json_response({"groups": await asyncio.to_thread(groups_repo.groups,
                                                            ctx_of(request).store,
                                                             _kind(request))})


@router.route("PUT", "/api/allocation/groups/{kind}", summary="Create or replace a group",
              body=GroupBody, response=_OBJ, errors={400: "invalid"})
async def put_group(request: web.Request) -> web.Response:
    """{group_name, country_names[] | industry_names[]}: trimmed, de-duplicated."""
    ctx = ctx_of(request)
    kind = _kind(request)
    field = f"{kind}_names"
    body = given(await read_struct(request, GroupBody))
    other = ({"country_names", "industry_names"} - {field}) & set(body)
    if other:  # the other kind's list does not belong here
        raise bad_request(f"unknown field(s): {', '.join(other)}", code="unknown_field",
                          field=other.pop())
    try:
        name, cleaned = clean_members(body["group_name"], body.get(field, []))
    except AllocationError as exc:
        raise bad_request(str(exc), code="invalid_group") from None
    await asyncio.to_thread(groups_repo.set_group, ctx.store, kind, name, cleaned, ctx.clock.now())
    return json_response({"group_name": name, field: cleaned})


@router.route("DELETE", "/api/allocation/groups/{kind}/{name}", summary="Delete a group and "
              "its target", response=_OBJ, errors={404: "unknown"})
async def delete_group(request: web.Request) -> web.Response:
    """{deleted}."""
    kind = _kind(request)
    name = request.match_info["name"]
    if not await asyncio.to_thread(groups_repo.delete_group, ctx_of(request).store, kind, name):
        raise not_found(f"no {kind} group {name!r}", code="unknown_group")
    return json_response({"deleted": name})
