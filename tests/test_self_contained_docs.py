"""Code and docs cite nothing outside the repository: a rule is stated where it is used.

A reference such as ``spec/portfolio.md §1.4`` or ``../shared/...`` points at a document
the reader of this repository does not have; so does a bare ``§2.5`` (a section of such a
document). The test reads every text file of the package, the tests, the benchmarks, the
docs and the CI scripts.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TREES = ("arduino_trader", "tests", "benchmarks", "docs", ".ci", "systemd")
FILES = ("README.md", "ARCHITECTURE.md", "pyproject.toml", ".importlinter")
SKIP_DIRS = {"__pycache__", ".mypy_cache", ".ruff_cache", ".hypothesis"}

OUTSIDE = re.compile(r"\bspec/|\.\./shared|/work/shared")
SECTION = re.compile(r"§\s*\d")


def _text_files() -> list[Path]:
    paths = [ROOT / name for name in FILES if (ROOT / name).exists()]
    for tree in TREES:
        for path in sorted((ROOT / tree).rglob("*")):
            if (path.is_file() and not SKIP_DIRS.intersection(path.parts)
                    and path != Path(__file__).resolve()):
                paths.append(path)
    return paths


def _matches(pattern: re.Pattern[str], paths: list[Path]) -> list[str]:
    found = []
    for path in paths:
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue  # binary data (bundled prices, compiled caches)
        for number, line in enumerate(text.splitlines(), 1):
            if pattern.search(line):
                name = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
                found.append(f"{name}:{number}: {line.strip()}")
    return found


def test_nothing_points_at_the_specification_outside_the_repository() -> None:
    found = _matches(OUTSIDE, _text_files())
    assert not found, "state the rule instead of citing outside the repository:\n" + \
        "\n".join(found)


def test_no_section_references_to_outside_documents() -> None:
    found = _matches(SECTION, _text_files())
    assert not found, "a § section points at a document outside the repository; state " \
        "the rule:\n" + "\n".join(found)


@pytest.mark.parametrize("line", [
    "Settings of the satellites area (spec/portfolio.md, reconciliation).",
    "see ../shared/ARCHITECTURE.md",
    "the bundled closes (/work/shared/data/closes.csv.gz)",
    "the deposit split of §1.11",
])
def test_the_checks_catch_a_reference(tmp_path: Path, line: str) -> None:
    probe = tmp_path / "probe.py"
    probe.write_text(f'"""{line}"""\n', encoding="utf-8")
    assert _matches(OUTSIDE, [probe]) or _matches(SECTION, [probe])


def test_the_scan_reads_the_package_and_the_docs() -> None:
    paths = set(_text_files())
    assert ROOT / "docs" / "architecture.md" in paths
    assert ROOT / "arduino_trader" / "domain" / "emergency.py" in paths
    assert ROOT / "arduino_trader" / "adapters" / "store" / "migrations" / "0500_cash_flows.sql" \
        in paths
