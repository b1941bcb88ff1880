"""The planner's kernels are compiled by a child process when the cache does not hold
them (``adapters/kernel_cache.py``): the stamp written afterwards names this code's
kernels, a later start finds it and spawns nothing, a changed kernel source asks for a
compile again, and a child that fails is reported, not raised, with no stamp written."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from arduino_trader.adapters import kernel_cache


@pytest.fixture
def stamp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A stamp nobody wrote yet (the kernels themselves stay in the suite's cache)."""
    path = tmp_path / "cache" / kernel_cache.STAMP_NAME
    monkeypatch.setattr(kernel_cache, "stamp_path", lambda: path)
    return path


def test_a_child_compiles_once_and_the_stamp_spares_the_next_start(stamp: Path) -> None:
    assert not kernel_cache.cache_is_filled()
    first = kernel_cache.fill_cache(timeout_s=900)
    assert first.compiled and first.ok, first
    assert first.peak_rss_mb is not None and first.peak_rss_mb > 50  # NumPy + Numba at least
    assert stamp.read_text().strip() == kernel_cache.kernels_key()
    again = kernel_cache.fill_cache(timeout_s=900)
    assert again == kernel_cache.CacheFill(compiled=False, ok=True)


def test_a_changed_kernel_source_or_library_asks_for_a_compile(
        stamp: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    stamp.parent.mkdir(parents=True)
    stamp.write_text(kernel_cache.kernels_key() + "\n")
    assert kernel_cache.cache_is_filled()
    package = tmp_path / "pkg"
    for name in kernel_cache.KERNEL_SOURCES:
        copy = package / name
        copy.parent.mkdir(parents=True, exist_ok=True)
        copy.write_bytes((kernel_cache.PACKAGE_DIR / name).read_bytes())
    monkeypatch.setattr(kernel_cache, "PACKAGE_DIR", package)
    assert kernel_cache.cache_is_filled()  # the same sources: the same kernels
    edited = package / kernel_cache.KERNEL_SOURCES[1]
    edited.write_text(edited.read_text() + "\n# edited\n")
    assert not kernel_cache.cache_is_filled()
    monkeypatch.undo()
    monkeypatch.setattr(kernel_cache, "stamp_path", lambda: stamp)
    monkeypatch.setattr(kernel_cache.numba, "__version__", "0.0.0")
    assert not kernel_cache.cache_is_filled()


def test_a_failing_child_is_reported_and_leaves_no_stamp(
        stamp: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    failing = tmp_path / "python"
    failing.write_text("#!/bin/sh\necho 'MemoryError: out of memory' >&2\nexit 3\n")
    failing.chmod(0o755)
    monkeypatch.setattr(sys, "executable", str(failing))
    fill = kernel_cache.fill_cache(timeout_s=60)
    assert fill.compiled and not fill.ok
    assert fill.error == "exit 3: MemoryError: out of memory"
    assert not stamp.exists()
