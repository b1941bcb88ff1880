"""Request bodies of the per-bucket planner configuration routes (see :mod:`.body`)."""

from __future__ import annotations

from typing import Annotated, Any

from msgspec import Meta

from .body import Body

Settings = Annotated[dict[str, Any], Meta(description="planner keys → values; each key and "
                                                      "value is checked by the planner's "
                                                      "configuration rules")]


class PlannerConfigBody(Body):
    """``PUT /api/planning/config``: a bucket's whole planner configuration."""

    error_codes = {"bucket_id": "invalid_bucket", "changed_by": "invalid_by"}

    bucket_id: Annotated[str, Meta(pattern=r"\S", description="core or a satellite's id")]
    settings: Settings
    changed_by: Annotated[str, Meta(pattern=r"\S", max_length=100)] = "api"


class ValidatePlannerConfigBody(Body):
    """``POST /api/planning/config/validate``: settings to check (nothing is stored)."""

    settings: Settings
