"""Typed settings: ``config/values.py`` is generated from the one declaration and gives
every setting its declared type, whatever the source of the value."""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from arduino_trader.config import values_codegen
from arduino_trader.config.schema import SETTINGS
from arduino_trader.config.settings import Settings, defaults, env_name, load_settings
from arduino_trader.config.values import SettingValues
from arduino_trader.domain.planner.models import SETTING_FIELDS, PlannerSettings


def _read(values: SettingValues, key: str) -> Any:
    """``values.<key>``, or ``values.<group>.<name>`` for a dotted key."""
    owner: Any = values
    for part in key.split("."):
        owner = getattr(owner, part)
    return owner


def test_the_generated_module_matches_the_declaration() -> None:
    assert values_codegen.TARGET.read_text(encoding="utf-8") == values_codegen.render(), \
        "config/values.py is stale: run python -m arduino_trader.config.values_codegen"


def test_every_setting_has_an_attribute_of_its_declared_type() -> None:
    settings = defaults()
    for key, spec in SETTINGS.items():
        value = _read(settings.typed, key)
        assert value == settings[key], key
        assert spec.holds(value), (key, value)
    assert isinstance(settings.typed.min_trade_value, Decimal)
    assert isinstance(settings.typed.market_data.yahoo_min_interval_s, float)
    assert settings.typed.api.port == 8000


def test_values_follow_file_environment_and_overrides(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text('min_trade_value = 250\n[market_data]\nhistory_seed_years = 5\n'
                   '[broker]\ntimeout_s = 9\n')
    settings = load_settings(cfg, environ={env_name("api.port"): "9100",
                                           env_name("fx_fund_buffer"): "0.03"})
    assert settings.typed.min_trade_value == Decimal("250")
    assert isinstance(settings.typed.min_trade_value, Decimal)
    assert settings.typed.market_data.history_seed_years == 5
    assert settings.typed.broker.timeout_s == 9.0
    assert isinstance(settings.typed.broker.timeout_s, float)
    assert settings.typed.api.port == 9100
    assert settings.typed.fx_fund_buffer == Decimal("0.03")
    changed = settings.with_overrides({"min_trade_value": "300.50", "api.port": 9200})
    assert changed.typed.min_trade_value == Decimal("300.50")
    assert changed.typed.api.port == 9200
    assert settings.typed.min_trade_value == Decimal("250")  # the old snapshot stays


def test_a_value_of_another_type_than_declared_is_refused() -> None:
    base = defaults()
    wrong = Settings({**base.data, "api.port": "8000"}, base.sources)
    with pytest.raises(TypeError, match=r"setting api\.port: '8000' is not of type int"):
        _ = wrong.typed
    flag = Settings({**base.data, "max_trades_per_day": True}, base.sources)
    with pytest.raises(TypeError, match="setting max_trades_per_day"):
        _ = flag.typed


def test_a_key_that_is_not_a_python_name_is_refused_by_the_generator(
        monkeypatch: pytest.MonkeyPatch) -> None:
    spec = SETTINGS["min_hold_days"]
    bad = {**SETTINGS, "api.class": type(spec)(**{**spec.__dict__, "key": "api.class"})}
    monkeypatch.setattr(values_codegen, "SETTINGS", bad)
    with pytest.raises(ValueError, match=r"setting api\.class: 'class' is not a Python name"):
        values_codegen.render()


def test_the_planner_reads_only_declared_settings_into_its_own_fields() -> None:
    """``PlannerSettings.from_settings`` reads by name (a bucket's own document of planner
    keys goes through it too): a misspelt name would silently keep the default."""
    fields = {f.name for f in dataclasses.fields(PlannerSettings)}
    assert sorted(set(SETTING_FIELDS) - set(SETTINGS)) == []
    assert sorted(set(SETTING_FIELDS.values()) - fields) == []
    planner = PlannerSettings.from_settings(
        defaults().with_overrides({"beam_width": 3, "monte_carlo_path_count": 77}))
    assert (planner.beam_width, planner.monte_carlo_paths) == (3, 77)
