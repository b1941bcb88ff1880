"""Security discovery review: the candidates the monthly discovery added or proposed, and
the owner's approve (onboard into the universe) / reject (never proposed again)."""

from __future__ import annotations

import asyncio
import weakref
from typing import Any

from aiohttp import web

from arduino_trader.actors.discovery import approve_overrides
from arduino_trader.adapters.store import discovery_repo, securities_repo
from arduino_trader.domain.universe import IdentifierError, validate_isin
from arduino_trader.protocols.market_data import (
    AddSecurity,
    ListingMismatch,
    MarketDataError,
    UnknownSymbol,
)

from .bodies_market import RejectCandidateBody
from .body import read_struct
from .context import ctx_of
from .errors import ApiError, bad_request, conflict, not_found
from .helpers import ask_actor, json_response
from .router import ApiRouter, QueryParam

router = ApiRouter("discovery")
CANDIDATE_SCHEMA: dict[str, Any] = {
    "type": "object", "required": ["isin", "symbol", "name", "score", "status"],
    "properties": {"isin": {"type": "string"}, "symbol": {"type": "string"},
                   "name": {"type": "string"}, "score": {"type": "number"},
                   "status": {"enum": list(discovery_repo.STATUSES)}}}
# One owner decision at a time (per serving loop): no double onboarding.
_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = \
    weakref.WeakKeyDictionary()


def _decisions() -> asyncio.Lock:
    return _locks.setdefault(asyncio.get_running_loop(), asyncio.Lock())


def _isin(request: web.Request) -> str:
    try:
        return validate_isin(request.match_info["isin"])
    except IdentifierError as exc:
        raise bad_request(str(exc), code="invalid_isin") from None


async def _pending(request: web.Request, isin: str) -> dict[str, Any]:
    row = await asyncio.to_thread(discovery_repo.candidate, ctx_of(request).store, isin)
    if row is None:
        raise not_found(f"no discovery candidate with ISIN {isin}", code="unknown_candidate")
    if row["status"] != "pending":
        raise conflict(f"{row['symbol']} is {row['status']}, not pending",
                       code="not_pending", current=row["status"])
    return row


@router.route("GET", "/api/universe/discovery", summary="Candidates of the monthly "
              "security discovery (pending review, added, approved, rejected), newest first",
              query=(QueryParam("status", {"enum": list(discovery_repo.STATUSES)}),),
              response={"type": "object", "required": ["candidates"],
                        "properties": {"candidates": {"type": "array",
                                                      "items": CANDIDATE_SCHEMA}}})
async def list_candidates(request: web.Request) -> web.Response:
    """All candidates, or those of one ``status``."""
    status = request.query.get("status")
    if status is not None and status not in discovery_repo.STATUSES:
        raise bad_request(f"status must be one of {', '.join(discovery_repo.STATUSES)}",
                          code="invalid_status")
    rows = await asyncio.to_thread(discovery_repo.candidates, ctx_of(request).store, status)
    return json_response({"candidates": rows})


@router.route("POST", "/api/universe/discovery/{isin}/approve", summary="Onboard a pending "
              "candidate into the universe (history follows in the background)",
              response={"type": "object", "required": ["candidate", "security"]},
              errors={400: "bad ISIN or refused by onboarding", 404: "unknown candidate",
                      409: "not pending", 503: "source unavailable"})
async def approve(request: web.Request) -> web.Response:
    """Onboard through the market-data actor, then mark approved; a refused onboarding
    leaves the candidate pending."""
    isin = _isin(request)
    ctx = ctx_of(request)
    async with _decisions():
        row = await _pending(request, isin)
        try:
            security = await ask_actor(request, "market_data",
                                       AddSecurity(isin, approve_overrides(row)), timeout=120)
        except ApiError:
            raise
        except securities_repo.DuplicateSecurity as exc:
            # Already active under this ISIN (an earlier approve whose answer timed out, or
            # added by hand): the candidate is in the universe, so it is approved.
            security = await asyncio.to_thread(securities_repo.get_security, ctx.store, isin)
            if security is None or not security.get("active"):
                raise _refused(exc) from None
        except (MarketDataError, IdentifierError) as exc:
            raise _refused(exc) from None
        if not await asyncio.to_thread(discovery_repo.decide_pending, ctx.store, isin, "approved",
                                                   ctx.clock.now()):
            raise conflict(f"{row['symbol']} is no longer pending", code="not_pending")
    candidate = await asyncio.to_thread(discovery_repo.candidate, ctx.store, isin)
    return json_response({"candidate": candidate, "security": security})


def _refused(exc: Exception) -> ApiError:
    if isinstance(exc, IdentifierError | securities_repo.DuplicateSecurity | ListingMismatch):
        return bad_request(f"onboarding refused: {exc}", code="onboarding_refused")
    if isinstance(exc, UnknownSymbol):
        return bad_request(f"onboarding refused: {exc}", code="unknown_identifier")
    code = exc.code if isinstance(exc, MarketDataError) else "market_data_error"
    return ApiError(503, code, f"onboarding failed: {exc}")


@router.route("POST", "/api/universe/discovery/{isin}/reject", summary="Reject a pending "
              "candidate {reason?}: it is never proposed again", body=RejectCandidateBody,
              response=CANDIDATE_SCHEMA,
              errors={400: "bad ISIN or body", 404: "unknown candidate", 409: "not pending"})
async def reject(request: web.Request) -> web.Response:
    """Mark rejected, with the owner's reason when given."""
    isin = _isin(request)
    reason = (await read_struct(request, RejectCandidateBody, optional=True)).reason
    ctx = ctx_of(request)
    async with _decisions():
        row = await _pending(request, isin)
        if not await asyncio.to_thread(discovery_repo.decide_pending, ctx.store, isin, "rejected",
                                                   ctx.clock.now(), reason):
            raise conflict(f"{row['symbol']} is no longer pending", code="not_pending")
    return json_response(await asyncio.to_thread(discovery_repo.candidate, ctx.store, isin))
