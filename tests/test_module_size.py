"""Small modules with one job each: no module of the package exceeds 400 lines."""

from __future__ import annotations

from pathlib import Path

import arduino_trader

MAX_LINES = 400


def test_no_module_exceeds_the_line_limit() -> None:
    root = Path(arduino_trader.__file__).parent
    sizes = {str(p.relative_to(root)): len(p.read_text(encoding="utf-8").splitlines())
             for p in root.rglob("*.py")}
    assert len(sizes) > 100, "the package's modules were not found"
    over = {name: n for name, n in sizes.items() if n > MAX_LINES}
    assert over == {}, f"modules over {MAX_LINES} lines (split them by responsibility): {over}"
