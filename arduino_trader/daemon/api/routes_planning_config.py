"""Per-bucket planner configuration: read, replace, delete, validate (versioned)."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from arduino_trader.adapters.store import planner_config_repo as repo
from arduino_trader.adapters.store.api_queries import buckets
from arduino_trader.config.bucket_planner import ALLOWED, validate

from .bodies_planning import PlannerConfigBody, ValidatePlannerConfigBody
from .body import read_struct
from .context import ctx_of, reads_of
from .errors import ApiError, bad_request, not_found
from .helpers import json_response
from .router import ApiRouter, QueryParam

router = ApiRouter("planning")

BUCKET = QueryParam("bucket_id", {"type": "string"}, "core or a satellite's id",
                    required=True)


async def _bucket(request: web.Request, bucket_id: Any) -> str:
    if not isinstance(bucket_id, str) or not bucket_id.strip():
        raise bad_request("bucket_id is required (core or a satellite's id)",
                          code="invalid_bucket")
    if not await buckets.bucket_exists(reads_of(request), bucket_id):
        raise not_found(f"unknown bucket {bucket_id!r}", code="unknown_bucket")
    return bucket_id


async def _answer(request: web.Request, bucket_id: str) -> dict[str, Any]:
    versions = await asyncio.to_thread(repo.history, ctx_of(request).store, bucket_id)
    current = versions[0] if versions and versions[0]["settings"] is not None else None
    return {"bucket_id": bucket_id, "settings": current["settings"] if current else {},
            "version": versions[0]["version"] if versions else 0, "history": versions}


@router.route("GET", "/api/planning/config", query=(BUCKET,),
              summary="A bucket's planner configuration in force and its versions",
              response={"type": "object", "required": ["bucket_id", "settings", "version"]},
              errors={400: "no bucket_id", 404: "unknown bucket"})
async def get_config(request: web.Request) -> web.Response:
    """Empty ``settings``: the bucket plans with the global planner settings."""
    bucket_id = await _bucket(request, request.query.get("bucket_id"))
    return json_response(await _answer(request, bucket_id))


@router.route("PUT", "/api/planning/config", body=PlannerConfigBody,
              summary="Replace a bucket's planner configuration (a new version)",
              response={"type": "object", "required": ["bucket_id", "settings", "version"]},
              errors={400: "refused settings (each named)", 404: "unknown bucket"})
async def put_config(request: web.Request) -> web.Response:
    """All or nothing: one refused key stores nothing."""
    body = await read_struct(request, PlannerConfigBody)
    bucket_id = await _bucket(request, body.bucket_id)
    clean, errors = validate(body.settings)
    if errors:
        raise ApiError(400, "invalid_planner_config", "planner configuration refused",
                       errors=errors)
    ctx = ctx_of(request)
    await asyncio.to_thread(repo.record, ctx.store, bucket_id, clean, body.changed_by,
                            ctx.clock.now())
    return json_response(await _answer(request, bucket_id))


@router.route("DELETE", "/api/planning/config", query=(BUCKET,),
              summary="Drop a bucket's planner configuration (back to the global settings)",
              response={"type": "object", "required": ["bucket_id", "settings", "version"]},
              errors={404: "unknown bucket or no configuration"})
async def delete_config(request: web.Request) -> web.Response:
    """Recorded as a version too, so the history shows who dropped it and when."""
    bucket_id = await _bucket(request, request.query.get("bucket_id"))
    ctx = ctx_of(request)
    if bucket_id not in await asyncio.to_thread(repo.current_all, ctx.store):
        raise not_found(f"bucket {bucket_id!r} has no planner configuration",
                        code="no_planner_config")
    await asyncio.to_thread(repo.record, ctx.store, bucket_id, None, "api", ctx.clock.now())
    return json_response(await _answer(request, bucket_id))


@router.route("POST", "/api/planning/config/validate", body=ValidatePlannerConfigBody,
              summary="What a planner configuration would refuse and why (stores nothing)",
              response={"type": "object", "required": ["valid", "errors", "allowed"]})
async def validate_config(request: web.Request) -> web.Response:
    """Always 200: ``valid`` and the refusals, each naming its key."""
    body = await read_struct(request, ValidatePlannerConfigBody)
    clean, errors = validate(body.settings)
    return json_response({"valid": not errors, "errors": errors, "settings": clean,
                          "allowed": sorted(ALLOWED)})
