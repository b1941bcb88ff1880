"""All settings, declared once: the registry every loader and endpoint reads."""

from __future__ import annotations

from types import MappingProxyType

from . import (
    keys_backup,
    keys_broker,
    keys_cash_flows,
    keys_daemon,
    keys_display,
    keys_fx,
    keys_market,
    keys_planner,
    keys_planner_actor,
    keys_satellites,
    keys_strategy,
    keys_trading,
    keys_universe,
)
from .spec import SettingError, SettingSpec

_ALL: tuple[SettingSpec, ...] = (keys_daemon.KEYS + keys_trading.KEYS + keys_market.KEYS
                                 + keys_broker.KEYS + keys_satellites.KEYS
                                 + keys_cash_flows.KEYS + keys_planner.KEYS
                                 + keys_planner_actor.KEYS + keys_fx.KEYS + keys_backup.KEYS
                                 + keys_universe.KEYS + keys_universe.DISCOVERY_KEYS
                                 + keys_display.KEYS + keys_strategy.KEYS)


def _build() -> MappingProxyType[str, SettingSpec]:
    registry: dict[str, SettingSpec] = {}
    for spec in _ALL:
        if spec.key in registry:
            raise RuntimeError(f"setting {spec.key} declared twice")
        # Defaults must satisfy their own declaration.
        default = spec.coerce(spec.default, from_text=isinstance(spec.default, str)
                              and spec.type != "str")
        registry[spec.key] = SettingSpec(**{**spec.__dict__, "default": default})
    return MappingProxyType(registry)


SETTINGS: MappingProxyType[str, SettingSpec] = _build()
SECRET_KEYS: frozenset[str] = frozenset(k for k, s in SETTINGS.items() if s.secret)


def spec_for(key: str) -> SettingSpec:
    """The declaration of ``key``; :class:`SettingError` for an unknown key."""
    try:
        return SETTINGS[key]
    except KeyError:
        raise SettingError(key, "unknown setting") from None
