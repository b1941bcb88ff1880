"""Runtime settings: the effective snapshot, persisted overrides, and mode changes."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any

import structlog

from arduino_trader.config.schema import SETTINGS, spec_for
from arduino_trader.config.settings import Settings
from arduino_trader.config.spec import SettingError
from arduino_trader.protocols.clock import Clock
from arduino_trader.protocols.settings_store import AuditEntry, SettingsStore, StoredOverride

from .secrets_box import SecretBox

log = structlog.get_logger(component="settings")

LIVE_CONFIRMATION = "ENABLE LIVE TRADING"
Listener = Callable[[tuple[str, ...], Settings], None]


class SettingsService:
    """Holds the effective :class:`Settings` and persists runtime overrides.

    ``current()`` is safe from any thread. Each mutation writes its overrides and audit
    row in one transaction (:class:`SettingsStore`) before the snapshot changes, so a
    failed write changes nothing.
    """

    def __init__(self, base: Settings, store: SettingsStore, box: SecretBox,
                 clock: Clock) -> None:
        self._base = base
        self._store = store
        self._box = box
        self._clock = clock
        self._current = base
        self._lock = threading.Lock()
        self._listeners: list[Listener] = []

    def current(self) -> Settings:
        """The effective settings now."""
        with self._lock:
            return self._current

    def add_listener(self, listener: Listener) -> None:
        """Call ``listener(changed_keys, settings)`` after every change (any thread)."""
        self._listeners.append(listener)

    def load(self) -> Settings:
        """Apply the overrides stored in the database on top of the base settings.

        An override that no longer validates (schema changed) is skipped and logged.
        """
        overrides: dict[str, Any] = {}
        for row in self._store.overrides():
            key = row.key
            try:
                spec = spec_for(key)
                raw = self._box.decrypt(row.value) if row.encrypted else json.loads(row.value)
                overrides[key] = spec.coerce(raw, from_text=spec.type == "decimal")
            except (SettingError, ValueError) as exc:
                log.warning("setting_override_ignored", key=key, reason=str(exc))
        with self._lock:
            self._current = self._base.with_overrides(overrides)
            return self._current

    def set(self, key: str, raw: Any, *, who: str = "api") -> Any:
        """Validate and persist one runtime override; returns the typed value.

        ``trading_mode`` is refused here: it changes only through :meth:`set_trading_mode`.
        """
        spec = spec_for(key)
        if key == "trading_mode":
            raise SettingError(key, "use POST /api/settings/trading-mode with {\"mode\": ...}")
        if not spec.runtime:
            raise SettingError(key, "cannot be changed at runtime; set it in the config file "
                               "or environment and restart")
        value = spec.coerce(raw, from_text=spec.type == "decimal" and isinstance(raw, str))
        stored = self._box.encrypt(str(value)) if spec.secret else json.dumps(spec.to_json(value))
        detail = {"key": key} if spec.secret else {"key": key, "value": spec.to_json(value)}
        self._store.write([StoredOverride(key, stored, spec.secret)],
                          AuditEntry(who, "setting", json.dumps(detail)), self._clock.now())
        self._apply({key: value})
        log.info("setting_changed", key=key, secret=spec.secret, who=who)
        return value

    def set_trading_mode(self, mode: str, confirm: str | None, *,
                         who: str = "api") -> tuple[str, str]:
        """Set the mode explicitly (idempotent); returns ``(mode, previous_mode)``.

        Live needs both broker credentials and ``confirm == LIVE_CONFIRMATION``; switching
        to live resets ``virtual_test_cash`` to 0 in the same transaction.
        """
        spec = SETTINGS["trading_mode"]
        mode = spec.coerce(mode)
        settings = self.current()
        previous = settings.typed.trading_mode
        changes: dict[str, Any] = {"trading_mode": mode}
        if mode == "live":
            if not (settings.typed.tradernet_api_key
                    and settings.typed.tradernet_api_secret):
                raise SettingError("trading_mode", "live trading needs tradernet_api_key and "
                                   "tradernet_api_secret")
            if confirm != LIVE_CONFIRMATION:
                raise SettingError("trading_mode", f"switching to live needs "
                                   f"\"confirm\": \"{LIVE_CONFIRMATION}\"")
            if previous != "live":
                changes["virtual_test_cash"] = SETTINGS["virtual_test_cash"].coerce(0)
        self._store.write(
            [StoredOverride(key, json.dumps(SETTINGS[key].to_json(value)))
             for key, value in changes.items()],
            AuditEntry(who, "trading_mode", json.dumps({"mode": mode, "previous": previous})),
            self._clock.now())
        self._apply(changes)
        log.warning("trading_mode_set", mode=mode, previous_mode=previous, who=who)
        return mode, previous

    def reset(self, key: str, *, who: str = "api") -> Any:
        """Remove the runtime override of ``key``; returns the value now in force.

        The value falls back to the environment, the config file or the default. A key
        without an override is left as it is (idempotent).
        """
        spec = spec_for(key)
        if key == "trading_mode":
            raise SettingError(key, "use POST /api/settings/trading-mode with {\"mode\": ...}")
        removed = self._store.remove(key, AuditEntry(who, "setting_reset",
                                                     json.dumps({"key": key})),
                                     self._clock.now())
        if removed:
            snapshot = self.load()
            log.info("setting_reset", key=key, secret=spec.secret, who=who)
            self._notify((key,), snapshot)
        return self.current().get(key)

    def _apply(self, changes: dict[str, Any]) -> None:
        with self._lock:
            self._current = self._current.with_overrides(changes)
            snapshot = self._current
        self._notify(tuple(sorted(changes)), snapshot)

    def _notify(self, keys: tuple[str, ...], snapshot: Settings) -> None:
        for listener in list(self._listeners):
            try:
                listener(keys, snapshot)
            except Exception as exc:  # a listener must not undo a committed change
                log.error("settings_listener_failed", error=repr(exc))
