"""Route declarations that carry their own documentation (the OpenAPI source).

Every route of the admin API is declared through an :class:`ApiRouter`; the OpenAPI
document is generated from these declarations, so it cannot drift from the app.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from .body import Body

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
JsonSchema = dict[str, Any]

MUTATING_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@dataclass(frozen=True)
class QueryParam:
    """A documented query parameter."""

    name: str
    schema: JsonSchema
    description: str = ""
    required: bool = False


@dataclass(frozen=True)
class RouteSpec:
    """One documented route."""

    method: str
    path: str
    handler: Handler
    summary: str
    tag: str
    auth: bool
    body: type[Body] | None = None
    response: JsonSchema | None = None
    status: int = 200
    query: tuple[QueryParam, ...] = ()
    errors: dict[int, str] = field(default_factory=dict)
    content_type: str = "application/json"


class ApiRouter:
    """Collects :class:`RouteSpec` declarations for one area of the API."""

    def __init__(self, tag: str) -> None:
        self.tag = tag
        self.routes: list[RouteSpec] = []

    def route(
        self,
        method: str,
        path: str,
        *,
        summary: str,
        auth: bool | None = None,
        body: type[Body] | None = None,
        response: JsonSchema | None = None,
        status: int = 200,
        query: tuple[QueryParam, ...] = (),
        errors: dict[int, str] | None = None,
        content_type: str = "application/json",
    ) -> Callable[[Handler], Handler]:
        """Declare a route. ``auth`` defaults to True for mutating methods."""
        upper = method.upper()
        needs_auth = upper in MUTATING_METHODS if auth is None else auth

        def register(handler: Handler) -> Handler:
            self.routes.append(RouteSpec(
                upper, path, handler, summary, self.tag, needs_auth, body, response, status,
                query, dict(errors or {}), content_type,
            ))
            return handler

        return register

    def add_to(self, app: web.Application) -> None:
        """Register every declared route on ``app``."""
        for spec in self.routes:
            app.router.add_route(spec.method, spec.path, spec.handler)
