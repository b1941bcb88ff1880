"""The package uses no library's private names: no ``asyncio._…`` (the event loop's
internals) and no ``conn._…`` (a database driver's internals)."""

from __future__ import annotations

import re
from pathlib import Path

import arduino_trader

PACKAGE = Path(arduino_trader.__file__).resolve().parent
PRIVATE = re.compile(r"\basyncio\._[a-z]|\bconn\._[a-z]|\baiosqlite\b.*\._[a-z]")


def test_no_private_asyncio_or_connection_names() -> None:
    hits = [f"{path.relative_to(PACKAGE)}:{n}: {line.strip()}"
            for path in sorted(PACKAGE.rglob("*.py"))
            for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
            if PRIVATE.search(line)]
    assert hits == []


def test_the_backtest_machinery_is_gone() -> None:
    """No inline event-loop driving and no CPU pinning in the package."""
    assert not (PACKAGE / "daemon" / "inline_drive.py").exists()
    assert not (PACKAGE / "daemon" / "affinity.py").exists()
    text = "\n".join(p.read_text(encoding="utf-8") for p in PACKAGE.rglob("*.py"))
    assert "sched_setaffinity" not in text
    assert "_set_running_loop" not in text
