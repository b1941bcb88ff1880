"""The settings port on SQLite (``adapters/store/settings_repo.py``) and the settings
service on it: every change writes its overrides and its audit row in one transaction,
a failed write leaves neither, and a reset of a key without an override writes nothing."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from arduino_trader.adapters.clock import ManualClock
from arduino_trader.adapters.store.settings_repo import SqliteSettingsStore
from arduino_trader.adapters.store.sqlite import SqliteStore
from arduino_trader.config.settings import load_settings
from arduino_trader.config.spec import SettingError
from arduino_trader.daemon.secrets_box import SecretBox
from arduino_trader.daemon.settings_service import SettingsService
from arduino_trader.protocols.settings_store import AuditEntry, StoredOverride
from arduino_trader.protocols.store import StoreError

AT = datetime(2026, 3, 10, 11, 0, tzinfo=UTC)


def _audit(store: SqliteStore) -> list[tuple[str, str, dict[str, object]]]:
    return [(r["actor"], r["action"], json.loads(r["detail"]))
            for r in store.fetch_all("SELECT * FROM audit_log ORDER BY id")]


def test_a_write_is_the_overrides_and_the_audit_row_or_nothing(store: SqliteStore) -> None:
    repo = SqliteSettingsStore(store)
    repo.write([StoredOverride("a", "1"), StoredOverride("b", "token", encrypted=True)],
               AuditEntry("api", "setting", '{"key": "a"}'), AT)
    assert repo.overrides() == (StoredOverride("a", "1"), StoredOverride("b", "token", True))
    with pytest.raises(StoreError, match="NOT NULL"):  # the second row breaks it
        repo.write([StoredOverride("c", "2"), StoredOverride("d", None)],  # type: ignore[arg-type]
                   AuditEntry("api", "setting", "{}"), AT)
    assert [o.key for o in repo.overrides()] == ["a", "b"]
    assert _audit(store) == [("api", "setting", {"key": "a"})]
    assert repo.remove("a", AuditEntry("api", "setting_reset", '{"key": "a"}'), AT)
    assert not repo.remove("a", AuditEntry("api", "setting_reset", '{"key": "a"}'), AT)
    assert [o.key for o in repo.overrides()] == ["b"]
    assert [a[1] for a in _audit(store)] == ["setting", "setting_reset"]  # one reset row


def test_the_service_persists_audits_and_reloads_its_overrides(
        store: SqliteStore, tmp_path: Path) -> None:
    base = load_settings(None, environ={})
    box = SecretBox(tmp_path / "secret.key")
    service = SettingsService(base, SqliteSettingsStore(store), box, ManualClock(AT))
    service.set("job_cash_flow_sync_minutes", 7, who="owner")
    service.set("tradernet_api_key", "k-123")
    with pytest.raises(SettingError):
        service.set("job_cash_flow_sync_minutes", "often")
    mode, previous = service.set_trading_mode("research", None)
    assert (mode, previous) == ("research", base.typed.trading_mode)
    stored = {r["key"]: r for r in store.fetch_all("SELECT * FROM settings_overrides")}
    assert set(stored) == {"job_cash_flow_sync_minutes", "tradernet_api_key", "trading_mode"}
    assert stored["tradernet_api_key"]["encrypted"] == 1
    assert "k-123" not in stored["tradernet_api_key"]["value"]
    assert _audit(store) == [
        ("owner", "setting", {"key": "job_cash_flow_sync_minutes", "value": 7}),
        ("api", "setting", {"key": "tradernet_api_key"}),  # never the secret
        ("api", "trading_mode", {"mode": "research", "previous": previous})]
    again = SettingsService(base, SqliteSettingsStore(store), box, ManualClock(AT)).load()
    assert again.typed.job_cash_flow_sync_minutes == 7
    assert again.typed.tradernet_api_key == "k-123"
    assert service.reset("job_cash_flow_sync_minutes") == base.typed.job_cash_flow_sync_minutes
    service.reset("job_cash_flow_sync_minutes")  # nothing left to reset: nothing written
    assert [a[1] for a in _audit(store)][-2:] == ["trading_mode", "setting_reset"]
