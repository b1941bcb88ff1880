"""The import direction of ARCHITECTURE.md, enforced on the source tree."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "arduino_trader"

# layer -> the project layers it may import
ALLOWED: dict[str, set[str]] = {
    "protocols": {"protocols"},
    "config": {"config"},
    "domain": {"domain", "protocols", "config"},
    "adapters": {"adapters", "protocols", "config", "domain"},
    "actors": {"actors", "domain", "protocols", "config", "adapters"},
    "daemon": {"daemon", "actors", "adapters", "domain", "protocols", "config"},
}


def _project_imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    found: list[tuple[int, str]] = []
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = list(parts[: len(parts) - node.level])
                if path.name == "__init__.py":
                    base = list(parts[: len(parts) - node.level + 1])
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            found.append((node.lineno, module))
    return [(line, m) for line, m in found if m.split(".")[0] == "arduino_trader"]


def test_imports_point_downwards_only() -> None:
    violations: list[str] = []
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE).parts
        if len(rel) < 2:
            continue  # top-level __init__/__main__
        layer = rel[0]
        for line, module in _project_imports(path):
            target = module.split(".")
            if len(target) < 2:
                continue  # `import arduino_trader` (version only)
            if target[1] not in ALLOWED[layer]:
                violations.append(f"{path.relative_to(PACKAGE)}:{line} imports {module}")
    assert not violations, "layer violations:\n" + "\n".join(violations)


def test_checker_catches_a_violation(tmp_path: Path) -> None:
    """The checker itself must be able to fail."""
    bad = PACKAGE / "domain" / "_layer_probe_tmp.py"
    bad.write_text("from arduino_trader.daemon import cli\n", encoding="utf-8")
    try:
        try:
            test_imports_point_downwards_only()
        except AssertionError as exc:
            assert "_layer_probe_tmp.py" in str(exc)
        else:
            raise AssertionError("layer checker missed a domain -> daemon import")
    finally:
        bad.unlink()
