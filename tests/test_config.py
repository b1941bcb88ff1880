"""Settings: declaration, validation, and the file < env < override precedence."""

from __future__ import annotations

import ast
from decimal import Decimal
from pathlib import Path

import pytest

import arduino_trader
from arduino_trader.config.schema import SECRET_KEYS, SETTINGS
from arduino_trader.config.settings import MASK, defaults, env_name, load_settings
from arduino_trader.config.spec import SettingError
from arduino_trader.daemon.cli import main


def test_every_operations_key_is_declared() -> None:
    for key in ("trading_mode", "buy_cooldown_days", "min_hold_days", "max_price_age_hours",
                "transaction_cost_fixed", "transaction_cost_percent",
                "limit_order_buffer_percent", "max_trades_per_week", "min_cash_reserve",
                "virtual_test_cash", "tradernet_api_key", "tradernet_api_secret",
                "optimizer_blend", "market_regime_bear_cash_reserve",
                "market_regime_bull_threshold", "target_return_threshold_pct",
                "rebalance_cash_threshold_multiplier", "job_sync_cycle_minutes",
                "job_maintenance_hour"):
        assert key in SETTINGS, key


def _string_constants(tree: ast.AST) -> set[str]:
    """Every string literal of a module except docstrings (a key named in prose is not
    a key read)."""
    docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                  if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef
                                | ast.AsyncFunctionDef)
                  and node.body and isinstance(node.body[0], ast.Expr)
                  and isinstance(node.body[0].value, ast.Constant)}
    return {node.value for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str)
            and id(node) not in docstrings}


def _attribute_reads(tree: ast.AST) -> set[str]:
    """``owner.attr`` of every attribute read whose owner is a name or an attribute:
    ``settings.typed.min_hold_days`` gives ``typed.min_hold_days``,
    ``settings.typed.api.port`` gives ``api.port``."""
    reads: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            owner = node.value
            if isinstance(owner, ast.Attribute):
                reads.add(f"{owner.attr}.{node.attr}")
            elif isinstance(owner, ast.Name):
                reads.add(f"{owner.id}.{node.attr}")
    return reads


def test_every_declared_key_is_read_somewhere() -> None:
    """A setting that changes nothing misleads the owner: each declared key must be read in
    the package outside the declarations (``config/keys_*.py``, the generated
    ``config/values.py``): as ``typed.<key>`` / ``typed.<group>.<name>``, or named as a
    literal (job schedules, the planner's key table)."""
    package = Path(arduino_trader.__file__).parent
    found: set[str] = set()
    for path in package.rglob("*.py"):
        if path.parent.name == "config" and (path.name.startswith("keys_")
                                             or path.name == "values.py"):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        found |= _string_constants(tree)
        found |= {read.removeprefix("typed.") for read in _attribute_reads(tree)}
    unread = sorted(set(SETTINGS) - found)
    assert unread == [], f"declared but read nowhere: {unread}"


def test_a_removed_key_in_the_config_file_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('security_table_visible_columns = "{}"\n', encoding="utf-8")
    with pytest.raises(SettingError, match="security_table_visible_columns: unknown setting"):
        load_settings(config, environ={})


def test_defaults_follow_the_decisions() -> None:
    s = defaults()
    assert s.typed.trading_mode == "research"
    assert s.typed.job_sync_cycle_minutes == 5
    assert s.typed.transaction_cost_fixed == Decimal("2.00")
    assert s.typed.transaction_cost_percent == 0.002
    assert s.typed.api.host == "127.0.0.1"
    assert s.typed.market_regime_bull_threshold == 0.3


def test_every_declared_default_is_valid() -> None:
    for key, spec in SETTINGS.items():
        spec.coerce(spec.default)  # raises if a default violates its own range
        assert spec.description, key


def test_file_env_precedence(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text('buy_cooldown_days = 10\nmin_hold_days = 20\n[api]\nport = 9100\n')
    s = load_settings(cfg, environ={env_name("min_hold_days"): "30"})
    assert s.typed.buy_cooldown_days == 10 and s.sources["buy_cooldown_days"] == "file"
    assert s.typed.min_hold_days == 30 and s.sources["min_hold_days"] == "env"
    assert s.typed.api.port == 9100
    assert s.with_overrides({"min_hold_days": 40}).typed.min_hold_days == 40


def test_config_env_variable_names_the_file(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text("max_trades_per_day = 7\n")
    s = load_settings(environ={"ARDUINO_TRADER_CONFIG": str(cfg)})
    assert s.typed.max_trades_per_day == 7


@pytest.mark.parametrize(("text", "needle"), [
    ("no_such_key = 1\n", "no_such_key: unknown setting"),
    ("buy_cooldown_days = 400\n", "buy_cooldown_days: 400 is out of range 0..365"),
    ("buy_cooldown_days = \"ten\"\n", "buy_cooldown_days: expected a number"),
    ("trading_mode = \"paper\"\n", "trading_mode: \"paper\" is not one of research|live"),
    ("transaction_cost_percent = 0.2\n", "out of range 0..0.05"),
    ("[api]\nport = 0\n", "api.port: 0 is out of range 1..65535"),
    ("this is not toml", "not valid TOML"),
])
def test_bad_files_name_the_key_and_range(tmp_path: Path, text: str, needle: str) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text(text)
    with pytest.raises(SettingError) as err:
        load_settings(cfg, environ={})
    assert needle in str(err.value)


def test_bad_environment_is_rejected() -> None:
    with pytest.raises(SettingError, match="max_trades_per_day"):
        load_settings(environ={env_name("max_trades_per_day"): "lots"})
    with pytest.raises(SettingError, match="unknown setting"):
        load_settings(environ={"ARDUINO_TRADER_NOPE": "1"})


def test_secrets_are_masked_in_public_view() -> None:
    s = load_settings(environ={env_name("tradernet_api_secret"): "s3cr3t-value"})
    public = s.public()
    assert public["tradernet_api_secret"] == MASK
    assert "s3cr3t-value" not in repr(public)
    assert {"tradernet_api_key", "tradernet_api_secret", "api.token"} <= SECRET_KEYS


def test_check_config_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ARDUINO_TRADER_CONFIG", raising=False)
    good = tmp_path / "good.toml"
    good.write_text('tradernet_api_secret = "hush-hush-123"\nmin_hold_days = 5\n')
    assert main(["check-config", "--config", str(good)]) == 0
    out = capsys.readouterr().out
    assert "min_hold_days" in out and "[file]" in out
    assert "hush-hush-123" not in out and MASK in out
    bad = tmp_path / "bad.toml"
    bad.write_text("min_hold_days = -1\n")
    assert main(["check-config", "--config", str(bad)]) == 1
    assert "min_hold_days" in capsys.readouterr().err
