"""A bucket's planner configuration: a document of planner settings that replace the
global ones for that bucket's plan. Only the planner's own keys are accepted, each
checked against its declaration (type and range)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from . import keys_planner
from .spec import SettingError

ALLOWED: dict[str, Any] = {spec.key: spec for spec in keys_planner.KEYS}


def validate(doc: Any) -> tuple[dict[str, Any], list[dict[str, str]]]:
    """``(clean settings, errors)``: each error names the key and why it is refused."""
    if not isinstance(doc, Mapping):
        return {}, [{"key": "", "error": "the configuration must be an object of settings"}]
    clean: dict[str, Any] = {}
    errors: list[dict[str, str]] = []
    for key, value in doc.items():
        spec = ALLOWED.get(key)
        if spec is None:
            errors.append({"key": str(key), "error": "not a planner setting; one of "
                                                     + ", ".join(sorted(ALLOWED))})
            continue
        try:
            clean[key] = spec.coerce(value)
        except SettingError as exc:
            errors.append({"key": key, "error": str(exc)})
    return clean, errors
