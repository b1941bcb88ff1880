"""OpenAPI 3.1 document generated from the route declarations."""

from __future__ import annotations

import re
from typing import Any

from arduino_trader import __version__

from .body import Body, body_schemas
from .router import RouteSpec

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["error", "message"],
    "properties": {"error": {"type": "string"}, "message": {"type": "string"}},
}
_PARAM_RE = re.compile(r"\{([^}/:]+)(?::[^}]*)?\}")


def _path_params(path: str) -> list[dict[str, Any]]:
    return [{"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
            for name in _PARAM_RE.findall(path)]


def _operation(spec: RouteSpec, refs: dict[type[Body], dict[str, Any]]) -> dict[str, Any]:
    params = _path_params(spec.path) + [
        {"name": q.name, "in": "query", "required": q.required, "schema": q.schema,
         "description": q.description}
        for q in spec.query
    ]
    ok_content: dict[str, Any] = {spec.content_type: {"schema": spec.response or {}}}
    responses: dict[str, Any] = {str(spec.status): {"description": "success",
                                                    "content": ok_content}}
    errors = dict(spec.errors)
    if spec.body is not None or params:
        errors.setdefault(400, "invalid input")
    if any(p["in"] == "path" for p in params):
        errors.setdefault(404, "no such resource (or an unknown path value)")
    if spec.auth:
        errors.setdefault(401, "missing bearer token")
        errors.setdefault(403, "invalid bearer token")
    errors.setdefault(503, "a component is unavailable")
    for status, text in sorted(errors.items()):
        responses[str(status)] = {"description": text, "content": {
            "application/json": {"schema": ERROR_SCHEMA}}}
    operation: dict[str, Any] = {
        "summary": spec.summary,
        "tags": [spec.tag],
        "operationId": f"{spec.method.lower()}_{_op_name(spec.path)}",
        "parameters": params,
        "responses": responses,
    }
    if spec.body is not None:
        operation["requestBody"] = {"required": True, "content": {
            "application/json": {"schema": refs[spec.body]}}}
    if spec.auth:
        operation["security"] = [{"bearer": []}]
    return operation


def _op_name(path: str) -> str:
    cleaned = _PARAM_RE.sub(lambda m: "by_" + m.group(1), path)
    return re.sub(r"[^a-zA-Z0-9]+", "_", cleaned).strip("_")


def openapi_path(path: str) -> str:
    """aiohttp ``{name:regex}`` → OpenAPI ``{name}``."""
    return _PARAM_RE.sub(lambda m: "{" + m.group(1) + "}", path)


def build_openapi(routes: list[RouteSpec]) -> dict[str, Any]:
    """The OpenAPI document of ``routes`` (plus the document's own route)."""
    paths: dict[str, dict[str, Any]] = {}
    kinds = sorted({spec.body for spec in routes if spec.body is not None},
                   key=lambda kind: kind.__name__)
    refs, schemas = body_schemas(kinds)
    for spec in routes:
        paths.setdefault(openapi_path(spec.path), {})[spec.method.lower()] = _operation(
            spec, refs)
    paths["/api/openapi.json"] = {"get": {
        "summary": "This OpenAPI document", "tags": ["system"],
        "operationId": "get_openapi", "parameters": [],
        "responses": {"200": {"description": "success",
                              "content": {"application/json": {"schema": {"type": "object"}}}}},
    }}
    return {
        "openapi": "3.1.0",
        "info": {"title": "arduino-trader admin API", "version": __version__},
        "paths": dict(sorted(paths.items())),
        "components": {"schemas": schemas,
                       "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
    }
