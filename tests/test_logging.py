"""JSON log lines: required fields, stdlib routing, secrets masked, no locals in tracebacks."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
import structlog

from arduino_trader.daemon.logging_setup import configure_logging, set_level

SECRET = "s3cr3t-value-42"


@pytest.fixture
def lines() -> Iterator[io.StringIO]:
    buf = io.StringIO()
    configure_logging("info", lambda: [SECRET], stream=buf)
    yield buf
    structlog.reset_defaults()
    logging.getLogger().handlers.clear()


def _events(buf: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in buf.getvalue().splitlines() if line.strip()]


def test_structlog_and_stdlib_lines_are_json_with_required_fields(lines: io.StringIO) -> None:
    structlog.get_logger(actor="planner").info("plan_ready", sequences=3)
    logging.getLogger("aiohttp.server").error("boom %s", "here")
    first, second = _events(lines)
    assert {"ts", "level", "event"} <= set(first) and first["actor"] == "planner"
    assert first["level"] == "info" and first["event"] == "plan_ready"
    assert second["event"] == "boom here" and second["logger"] == "aiohttp.server"
    assert str(first["ts"]).endswith("Z")
    assert list(first)[:3] == ["ts", "level", "event"]


def test_secrets_are_masked_everywhere(lines: io.StringIO) -> None:
    log = structlog.get_logger()
    log.info("login", detail=f"key={SECRET}", nested={"x": [SECRET]}, api_token="abc")
    logging.getLogger("x").warning("got %s", SECRET)
    text = lines.getvalue()
    assert SECRET not in text and "abc" not in text
    assert text.count("***") >= 4


def test_tracebacks_have_no_local_variables(lines: io.StringIO) -> None:
    def fail() -> None:
        password_local = "local-value-xyz"  # noqa: F841 - must not be rendered
        raise ValueError("bad")

    try:
        fail()
    except ValueError:
        structlog.get_logger().exception("failed")
    (event,) = _events(lines)
    assert "ValueError: bad" in str(event["exception"])
    assert "local-value-xyz" not in lines.getvalue()


def test_level_changes_at_runtime(lines: io.StringIO) -> None:
    log = structlog.get_logger()
    log.debug("hidden")
    set_level("debug")
    log.debug("shown")
    set_level("error")
    log.warning("hidden_too")
    assert [e["event"] for e in _events(lines)] == ["shown"]
