"""Request bodies: one msgspec Struct per body gives validation, the 400 and the schema.

A route declares ``body=SomeBody`` (a :class:`Body` subclass); the handler calls
``await read_struct(request, SomeBody)``. Types, required and unknown fields, integer
ranges, string patterns and enums are msgspec's (``Meta``); decimal ranges and places,
which msgspec cannot constrain, are declared with :class:`Num` in the same annotation.
Every number of the body, nested ones included, also obeys the size rule of
:func:`~arduino_trader.config.spec.number_problem` (checked before anything expands it),
and a key repeated in one object is refused rather than taking the last value.
The OpenAPI document is generated from the same Structs (:func:`body_schemas`), so the
checks and the documentation cannot drift apart.
"""

from __future__ import annotations

import json
import re
import types
import typing
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal, TypeVar, get_args, get_origin

import msgspec
from aiohttp import web
from msgspec import Meta

from arduino_trader.config.spec import number_problem
from arduino_trader.domain.cash_flows.normalise import KNOWN_CURRENCIES

from .errors import ApiError, bad_request
from .json_depth import MAX_DEPTH, nesting_depth

MAX_BODY_BYTES = 1_000_000
T = TypeVar("T", bound="Body")
_AT = re.compile(r" - at `\$(?P<path>[^`]*)`$")  # msgspec's location of a nested error
_UNKNOWN = "Object contains unknown field `"
_MISSING = "Object missing required field `"
if TYPE_CHECKING:
    BookedCurrency = str
else:  # an enum: the currencies the cash-flow books hold (another is refused, never booked)
    BookedCurrency = Literal[tuple(sorted(KNOWN_CURRENCIES))]
RequestId = Annotated[str, Meta(
    min_length=1, max_length=100, pattern=r"\S",
    description="required retry key: the same id with the same request is a replay (one "
                "effect); with another request a 409 request_id_reused")]


class Body(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Base of every request body: unknown fields are refused.

    ``error_codes`` maps a field to the ``error`` code a missing or invalid value of it
    answers with (default ``missing_field`` / ``invalid_field``), for routes whose
    clients know a specific code.
    """

    error_codes: ClassVar[dict[str, str]] = {}


@dataclass(frozen=True)
class Num:
    """Bounds of a ``Decimal`` field (finite and within the size rule of
    :func:`~arduino_trader.config.spec.number_problem` always): ``gt``/``ge``/``lt``/``le``
    and at most ``places`` decimal places. Accepted as a JSON number or a decimal string
    (or, parsed by a route, a query parameter)."""

    gt: Decimal | None = None
    ge: Decimal | None = None
    lt: Decimal | None = None
    le: Decimal | None = None
    places: int | None = None
    description: str = ""

    def problem(self, value: Decimal) -> str | None:
        """Why ``value`` breaks these bounds, or None."""
        if not value.is_finite():
            return "must be a finite decimal"
        size = number_problem(value)
        if size is not None:
            return size
        checks = ((self.gt, value > (self.gt or 0), "> "), (self.ge, value >= (self.ge or 0),
                  ">= "), (self.lt, value < (self.lt or 0), "< "),
                  (self.le, value <= (self.le or 0), "<= "))
        for bound, ok, text in checks:
            if bound is not None and not ok:
                return f"must be {text}{bound}"
        if self.places is not None and _places(value) > self.places:
            return ("must be a whole number" if self.places == 0 else
                    f"must have at most {self.places} decimal places")
        return None

    def schema(self) -> dict[str, Any]:
        """The JSON schema of the field."""
        out: dict[str, Any] = {"type": ["string", "number"], "format": "decimal"}
        for key, bound in (("exclusiveMinimum", self.gt), ("minimum", self.ge),
                           ("exclusiveMaximum", self.lt), ("maximum", self.le)):
            if bound is not None:
                out[key] = float(bound)
        if self.places is not None:
            out["multipleOf"] = float(Decimal(1).scaleb(-self.places))
        if self.description:
            out["description"] = self.description
        return out


def _places(value: Decimal) -> int:
    """Decimal places of a finite ``value`` once trailing zeros go (``5.0`` → 0)."""
    _, digits, exponent = value.as_tuple()
    assert isinstance(exponent, int)
    places = -exponent
    for digit in reversed(digits):
        if places <= 0 or digit != 0:
            break
        places -= 1
    return max(places, 0)


def _num_of(hint: Any) -> Num | None:
    """The :class:`Num` of an annotation (also inside ``X | None``)."""
    if get_origin(hint) is typing.Annotated:
        return next((m for m in hint.__metadata__ if isinstance(m, Num)), None)
    if get_origin(hint) in (typing.Union, types.UnionType):
        return next((n for n in map(_num_of, get_args(hint)) if n is not None), None)
    return None


@cache
def decimal_fields(kind: type[Body]) -> dict[str, Num]:
    """The :class:`Num`-declared fields of ``kind`` (by their JSON name)."""
    hints = typing.get_type_hints(kind, include_extras=True)
    out: dict[str, Num] = {}
    for field in msgspec.structs.fields(kind):
        num = _num_of(hints[field.name])
        if num is not None:
            out[field.encode_name] = num
    return out


def _error(kind: type[Body], exc: msgspec.ValidationError) -> ApiError:
    text, path = str(exc), ""
    at = _AT.search(text)
    if at is not None:
        text, path = text[:at.start()], at["path"]
    parts = [p for p in re.split(r"[.\[\]]+", path) if p]
    for prefix, code in ((_UNKNOWN, "unknown_field"), (_MISSING, "missing_field")):
        if text.startswith(prefix) and text.endswith("`"):
            field = ".".join([*parts, text[len(prefix):-1]])
            if code == "missing_field":
                code = kind.error_codes.get(field, code)
            what = "unknown" if code == "unknown_field" else "missing"
            return bad_request(f"{what} field(s): {field}", code=code, field=field)
    if not parts:
        return bad_request("request body must be a JSON object", code="invalid_json")
    field = ".".join(parts)
    if text.startswith("Invalid enum value"):
        text += f"; expected one of {', '.join(map(repr, _choices(kind, parts[0])))}"
    return bad_request(f"{field}: {text}", code=kind.error_codes.get(parts[0], "invalid_field"),
                       field=field)


def _choices(kind: type[Body], name: str) -> tuple[Any, ...]:
    """The values a ``Literal`` field of ``kind`` (JSON name ``name``) accepts."""
    hints = typing.get_type_hints(kind, include_extras=True)
    hint = hints.get(_attr(kind, name)) if name in _json_names(kind) else None
    while get_origin(hint) is typing.Annotated:
        hint = get_args(hint)[0]
    return get_args(hint) if get_origin(hint) is typing.Literal else ()


def _json_names(kind: type[Body]) -> set[str]:
    return {f.encode_name for f in msgspec.structs.fields(kind)}


def decode(raw: bytes, kind: type[T]) -> T:
    """``raw`` JSON as a ``kind``: 400 naming the field and the problem otherwise."""
    try:
        if nesting_depth(raw.decode("utf-8")) > MAX_DEPTH:
            raise bad_request(f"malformed JSON: nested deeper than {MAX_DEPTH} levels",
                              code="invalid_json")
        value = _decoder(kind).decode(raw)
    except UnicodeDecodeError as exc:
        raise bad_request(f"malformed JSON: {exc}", code="invalid_json") from None
    except msgspec.ValidationError as exc:
        raise _error(kind, exc) from None
    except msgspec.DecodeError as exc:
        raise bad_request(f"malformed JSON: {exc}", code="invalid_json") from None
    _refuse_repeated_keys(raw)
    _refuse_oversized(kind, value)
    for name, num in decimal_fields(kind).items():
        field_value = getattr(value, _attr(kind, name))
        problem = num.problem(field_value) if isinstance(field_value, Decimal) else None
        if problem is not None:
            raise bad_request(f"{name} {problem}", field=name,
                              code=kind.error_codes.get(name, "invalid_field"))
    return value


def _refuse_repeated_keys(raw: bytes) -> None:
    """400 naming a key that appears twice in one object, at any depth (``raw`` is JSON
    msgspec accepted; numbers are skipped, not parsed)."""
    try:
        json.loads(raw, object_pairs_hook=_unique_keys, parse_int=_skip, parse_float=_skip,
                   parse_constant=_skip)
    except json.JSONDecodeError as exc:
        raise bad_request(f"malformed JSON: {exc}", code="invalid_json") from None


def _unique_keys(pairs: list[tuple[str, Any]]) -> None:
    seen: set[str] = set()
    for key, _ in pairs:
        if key in seen:
            raise bad_request(f"{key}: the key appears more than once in one object",
                              code="duplicate_field", field=key)
        seen.add(key)


def _skip(_: str) -> None:
    return None


def _refuse_oversized(kind: type[Body], value: Body) -> None:
    """400 naming the first number of ``value`` the size rule refuses."""
    found = _oversized(value, "")
    if found is not None:
        field, problem = found
        raise bad_request(f"{field} {problem}", field=field,
                          code=kind.error_codes.get(field.split(".")[0], "invalid_field"))


def _oversized(value: Any, path: str) -> tuple[str, str] | None:
    """``(dotted path, problem)`` of the first number in ``value`` too large, too small or
    too long, or None."""
    if isinstance(value, int | float | Decimal):
        problem = number_problem(value)
        return None if problem is None else (path, problem)
    if isinstance(value, msgspec.Struct):
        children = [(f.encode_name, getattr(value, f.name))
                    for f in msgspec.structs.fields(value)]
    elif isinstance(value, dict):
        children = [(str(k), v) for k, v in value.items()]
    elif isinstance(value, list | tuple):
        children = [(str(i), v) for i, v in enumerate(value)]
    else:
        return None
    for name, child in children:
        found = _oversized(child, f"{path}.{name}" if path else name)
        if found is not None:
            return found
    return None


@cache
def _decoder(kind: type[T]) -> msgspec.json.Decoder[T]:
    # Untyped (``Any``) numbers with a fraction stay exact: Decimal, never float.
    return msgspec.json.Decoder(kind, float_hook=Decimal)


def _attr(kind: type[Body], encode_name: str) -> str:
    return next(f.name for f in msgspec.structs.fields(kind) if f.encode_name == encode_name)


async def read_raw(request: web.Request) -> bytes:
    """The request body bytes: 413 over :data:`MAX_BODY_BYTES`."""
    if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
        raise ApiError(413, "body_too_large", f"request body over {MAX_BODY_BYTES} bytes")
    return await request.read()


async def read_struct(request: web.Request, kind: type[T], *, optional: bool = False) -> T:
    """The request body as a ``kind``; an empty body is ``kind()`` when ``optional``."""
    raw = await read_raw(request)
    if not raw.strip():
        if optional:
            return kind()
        raise bad_request("request body must be a JSON object", code="invalid_json")
    return decode(raw, kind)


def body_schemas(kinds: list[type[Body]], prefix: str = "#/components/schemas/"
                 ) -> tuple[dict[type[Body], dict[str, Any]], dict[str, Any]]:
    """Each body's schema (inline) and the component schemas its nested types refer to;
    decimals as their :class:`Num` declares them."""
    _, components = msgspec.json.schema_components(kinds, ref_template=prefix + "{name}")
    for kind in kinds:
        props = components[kind.__name__].get("properties", {})
        for name, num in decimal_fields(kind).items():
            old = props[name]
            extra = {k: v for k, v in old.items() if k in ("default", "title")}
            nullable = {"type": "null"} in old.get("anyOf", [])
            new = {"anyOf": [num.schema(), {"type": "null"}]} if nullable else num.schema()
            props[name] = {**new, **extra}
    return {kind: components[kind.__name__] for kind in kinds}, components
