"""A bucket's stored planner configuration applied to its plan input."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from arduino_trader.config.bucket_planner import validate
from arduino_trader.config.settings import Settings
from arduino_trader.domain.planner.models import PlanInput

from .planner_inputs import planner_settings

Configs = dict[str, tuple[int, dict[str, Any]]]


def configured_input(inp: PlanInput, bucket_id: str, configs: Configs,
                     settings: Settings, warnings: list[str]) -> PlanInput:
    """``inp`` with the bucket's planner settings replacing the global ones; a stored
    configuration that no longer validates is ignored with a warning (global settings)."""
    entry = configs.get(bucket_id)
    if entry is None:
        return inp
    version, doc = entry
    clean, errors = validate(doc)
    if errors:
        warnings.append(f"bucket {bucket_id} planner config v{version} ignored: "
                        + "; ".join(e["error"] for e in errors))
        return inp
    return replace(inp, settings=planner_settings(settings.with_overrides(clean)))


def versions(configs: Configs) -> dict[str, int]:
    """``bucket -> version`` of the configurations a plan used (recorded with it)."""
    return {bucket: version for bucket, (version, _) in sorted(configs.items())}
