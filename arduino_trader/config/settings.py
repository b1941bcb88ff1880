"""Effective settings: defaults < TOML file < environment < runtime overrides."""

from __future__ import annotations

import os
import tomllib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

from .schema import SETTINGS, spec_for
from .spec import SettingError, raise_all
from .values import GROUPS, SettingValues

ENV_PREFIX = "ARDUINO_TRADER_"
CONFIG_ENV = "ARDUINO_TRADER_CONFIG"
# Environment variables with the prefix that are not settings.
_NON_SETTING_ENV = frozenset({"CONFIG", "DATA_DIR"})

Source = Literal["default", "file", "env", "override"]
MASK = "********"


def env_name(key: str) -> str:
    """``api.port`` → ``ARDUINO_TRADER_API__PORT``; ``min_hold_days`` → ``..._MIN_HOLD_DAYS``."""
    return ENV_PREFIX + key.upper().replace(".", "__")


def _key_from_env(name: str) -> str:
    return name[len(ENV_PREFIX):].lower().replace("__", ".")


@dataclass(frozen=True)
class Settings(Mapping[str, Any]):
    """An immutable snapshot of effective settings with the source of each value."""

    data: Mapping[str, Any]
    sources: Mapping[str, Source]

    def __getitem__(self, key: str) -> Any:
        return self.data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.data)

    def __len__(self) -> int:
        return len(self.data)

    @cached_property
    def typed(self) -> SettingValues:
        """Every setting as a typed attribute (``settings.typed.min_trade_value``,
        ``settings.typed.api.port``): reads are checked by mypy, not by key strings."""
        return values_of(self.data)

    def with_overrides(self, overrides: Mapping[str, Any]) -> Settings:
        """A new snapshot with validated runtime overrides applied on top."""
        values = dict(self.data)
        sources = dict(self.sources)
        for key, raw in overrides.items():
            values[key] = spec_for(key).coerce(raw, from_text=isinstance(raw, str))
            sources[key] = "override"
        return Settings(values, sources)

    def public(self) -> dict[str, Any]:
        """JSON-ready values with every secret masked (``""`` stays ``""``)."""
        out: dict[str, Any] = {}
        for key, value in self.data.items():
            spec = SETTINGS[key]
            if spec.secret:
                out[key] = MASK if value else ""
            else:
                out[key] = spec.to_json(value)
        return out

    def secret_values(self) -> list[str]:
        """Non-empty secret values, for the log-masking processor."""
        return [str(self.data[k]) for k, s in SETTINGS.items() if s.secret and self.data[k]]


def values_of(data: Mapping[str, Any]) -> SettingValues:
    """The typed values of a complete mapping of coerced settings; :class:`TypeError`
    names a value whose type is not the declared one."""
    top: dict[str, Any] = {}
    groups: dict[str, dict[str, Any]] = {}
    for key, spec in SETTINGS.items():
        value = data[key]
        if not spec.holds(value):
            raise TypeError(f"setting {key}: {value!r} is not of type {spec.type}")
        group, _, name = key.rpartition(".")
        (groups.setdefault(group, {}) if group else top)[name] = value
    for group, fields in groups.items():
        top[group] = GROUPS[group](**fields)
    return SettingValues(**top)


def defaults() -> Settings:
    """Settings with every key at its declared default."""
    return Settings({k: s.default for k, s in SETTINGS.items()},
                    dict.fromkeys(SETTINGS, "default"))


def flatten_toml(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"api": {"port": 1}}`` → ``{"api.port": 1}``; tables whose dotted name is itself
    a setting are not expected (settings are scalars)."""
    flat: dict[str, Any] = {}
    for name, value in data.items():
        key = f"{prefix}{name}"
        if isinstance(value, dict) and key not in SETTINGS:
            flat.update(flatten_toml(value, key + "."))
        else:
            flat[key] = value
    return flat


def read_config_file(path: Path) -> dict[str, Any]:
    """Parse and validate a TOML settings file; :class:`SettingError` on any bad key."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SettingError("config", f"file not found: {path}") from None
    except tomllib.TOMLDecodeError as exc:
        raise SettingError("config", f"{path} is not valid TOML: {exc}") from None
    except OSError as exc:
        raise SettingError("config", f"cannot read {path}: {exc}") from None
    return _coerce_all(flatten_toml(raw).items(), from_text=False)


def _coerce_all(items: Iterable[tuple[str, Any]], *, from_text: bool,
                where: str = "") -> dict[str, Any]:
    """Coerce every item; raise once naming every bad one (not only the first)."""
    found: dict[str, Any] = {}
    errors: list[SettingError] = []
    for key, value in items:
        try:
            found[key] = spec_for(key).coerce(value, from_text=from_text)
        except SettingError as exc:
            errors.append(SettingError(exc.key, f"{where}{exc.reason}"))
    raise_all(errors)
    return found


def read_environment(environ: Mapping[str, str]) -> dict[str, Any]:
    """Settings given as ``ARDUINO_TRADER_<KEY>`` variables (``.`` written ``__``)."""
    return _coerce_all(((_key_from_env(name), text) for name, text in environ.items()
                        if name.startswith(ENV_PREFIX)
                        and name[len(ENV_PREFIX):] not in _NON_SETTING_ENV),
                       from_text=True, where="from the environment: ")


def load_settings(config_file: Path | None = None,
                  environ: Mapping[str, str] | None = None,
                  overrides: Mapping[str, Any] | None = None) -> Settings:
    """Merge every source in order; raises :class:`SettingError` naming the bad key.

    ``config_file`` defaults to ``$ARDUINO_TRADER_CONFIG`` when set.
    """
    env = os.environ if environ is None else environ
    if config_file is None and env.get(CONFIG_ENV):
        config_file = Path(env[CONFIG_ENV])
    base = defaults()
    values = dict(base.data)
    sources: dict[str, Source] = dict(base.sources)
    errors: list[SettingError] = []
    from_file: dict[str, Any] = {}
    from_env: dict[str, Any] = {}
    try:
        if config_file is not None:
            from_file = read_config_file(config_file)
    except SettingError as exc:
        errors.extend(getattr(exc, "errors", [exc]))
    try:
        from_env = read_environment(env)
    except SettingError as exc:
        errors.extend(getattr(exc, "errors", [exc]))
    raise_all(errors)  # the file's and the environment's, all in one report
    for key, value in from_file.items():
        values[key], sources[key] = value, "file"
    for key, value in from_env.items():
        values[key], sources[key] = value, "env"
    settings = Settings(values, sources)
    return settings.with_overrides(overrides) if overrides else settings
