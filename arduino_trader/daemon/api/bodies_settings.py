"""Request bodies of the settings routes (see :mod:`.body`)."""

from __future__ import annotations

from typing import Any, Literal

from .body import Body


class SettingBody(Body):
    """``PUT /api/settings/{key}``: the new value (checked against the setting's range)."""

    value: Any


class TradingModeBody(Body):
    """``POST /api/settings/trading-mode``: an explicit mode; live needs ``confirm``."""

    error_codes = {"mode": "invalid_mode"}

    mode: Literal["research", "live"]
    confirm: str | None = None
