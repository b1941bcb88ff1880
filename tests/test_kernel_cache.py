"""The planner's kernels are compiled by a child process when the cache does not hold
them (``adapters/kernel_cache.py``): the stamp written afterwards names this code's
kernels, a later start finds it and spawns nothing, a changed kernel source asks for a
compile again, and a child that fails is reported, not raised, with no stamp written."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from arduino_trader.adapters import kernel_cache


@pytest.fixture(autouse=True)
def suite_cache_kept() -> Iterator[None]:
    """No test here may remove the suite's own kernel cache: every daemon started after it
    would compile the kernels again in a child of its own (a minute each, at once)."""
    before = kernel_cache.kernel_cache_files()
    yield
    assert [p for p in before if not p.exists()] == []


@pytest.fixture
def stamp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A stamp nobody wrote yet (the kernels themselves stay in the suite's cache)."""
    path = tmp_path / "cache" / kernel_cache.STAMP_NAME
    monkeypatch.setattr(kernel_cache, "stamp_path", lambda: path)
    return path


def test_a_child_compiles_once_and_the_stamp_spares_the_next_start(
        stamp: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # about the stamp: the suite's kernels stay cached (clearing has its own test below)
    monkeypatch.setattr(kernel_cache, "clear_kernel_caches", lambda: 0)
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
    monkeypatch.setattr(kernel_cache, "clear_kernel_caches", lambda: 0)  # the suite's
    fill = kernel_cache.fill_cache(timeout_s=60)
    assert fill.compiled and not fill.ok
    assert fill.error == "exit 3: MemoryError: out of memory"
    assert not stamp.exists()


def test_a_compile_starts_from_nothing_so_no_kernel_is_loaded_stale(
        stamp: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Numba checks only the file of the kernel it loads: ``evaluation``'s cached kernel
    would survive an edit of ``end_state_score``. Before the child compiles, every cache
    file of the kernel modules goes, beside the sources and under ``NUMBA_CACHE_DIR``;
    other modules' files stay."""
    package = tmp_path / "pkg"
    user_cache = tmp_path / "numba-cache"
    kernel_files, other_files = [], []
    for name in kernel_cache.KERNEL_SOURCES:
        source = package / name
        stem, folder = source.stem, source.parent.name
        kernel_files += [source.parent / "__pycache__" / f"{stem}.f-10.py311.nbi",
                         source.parent / "__pycache__" / f"{stem}.f-10.py311.1.nbc",
                         user_cache / f"{folder}_0a1b" / f"{stem}.g-20.py311.nbi"]
        other_files += [source.parent / "__pycache__" / f"{stem}.cpython-311.pyc",
                        user_cache / f"elsewhere_0a1b/{stem}.g-20.py311.nbi"]
    other_files.append(package / "domain/planner/__pycache__/models.h-5.py311.nbi")
    for path in kernel_files + other_files:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"")
    for name in kernel_cache.KERNEL_SOURCES:
        (package / name).write_text("")
    monkeypatch.setattr(kernel_cache, "PACKAGE_DIR", package)
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(user_cache))
    assert sorted(kernel_cache.kernel_cache_files()) == sorted(kernel_files)
    seen = tmp_path / "seen.txt"
    compiled = " ".join(str(user_cache / f"{(package / n).parent.name}_0a1b"
                            / f"{(package / n).stem}.k-1.py311.nbi")
                        for n in kernel_cache.KERNEL_SOURCES)
    child = tmp_path / "python"  # records what the compile would find, then "compiles"
    child.write_text(f"#!/bin/sh\nfind {tmp_path} -name '*.nb?' | sort > {seen}\n"
                     f"touch {compiled}\necho '{{\"peak_rss_mb\": 1.0}}'\n")
    child.chmod(0o755)
    monkeypatch.setattr(sys, "executable", str(child))
    monkeypatch.setattr(kernel_cache, "stamp_path", lambda: stamp)
    fill = kernel_cache.fill_cache(timeout_s=60)
    assert fill.compiled and fill.ok, fill
    left = set(seen.read_text().split())
    assert not left & {str(p) for p in kernel_files}
    assert {str(p) for p in other_files if p.suffix != ".pyc"} <= left
    assert all(p.exists() for p in other_files)
    assert kernel_cache.fill_cache(timeout_s=60) == kernel_cache.CacheFill(compiled=False,
                                                                           ok=True)


def test_a_stamp_whose_cache_files_are_gone_asks_for_a_compile(
        stamp: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The stamp alone does not prove the cache: when a kernel module's index was removed
    after the stamp was written (another checkout's compile clears them), the daemon
    would compile in-process and keep the compiler's memory, so a child compiles again."""
    package, user_cache = tmp_path / "pkg", tmp_path / "numba-cache"
    indexes = []
    for name in kernel_cache.KERNEL_SOURCES:
        source = package / name
        source.parent.mkdir(parents=True, exist_ok=True)
        source.write_text("")
        index = user_cache / f"{source.parent.name}_0a1b" / f"{source.stem}.f-10.py311.nbi"
        index.parent.mkdir(parents=True, exist_ok=True)
        index.write_bytes(b"")
        indexes.append(index)
    beside = package / "domain/planner/__pycache__" / "evaluation.f-10.py311.nbi"
    beside.parent.mkdir(parents=True)
    beside.write_bytes(b"")  # Numba reads NUMBA_CACHE_DIR when set, not this one
    monkeypatch.setattr(kernel_cache, "PACKAGE_DIR", package)
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(user_cache))
    stamp.parent.mkdir(parents=True)
    stamp.write_text(kernel_cache.kernels_key() + "\n")
    assert kernel_cache.cache_is_filled()
    evaluation = package / "domain/planner/evaluation.py"
    removed = next(i for i in indexes if i.name.startswith(evaluation.stem))
    removed.unlink()
    assert not kernel_cache.cache_is_filled()
    child = tmp_path / "python"
    rebuilt = " ".join(map(str, indexes))  # a compile starts from nothing, then writes all
    child.write_text(f"#!/bin/sh\ntouch {rebuilt}\necho '{{\"peak_rss_mb\": 1.0}}'\n")
    child.chmod(0o755)
    monkeypatch.setattr(sys, "executable", str(child))
    fill = kernel_cache.fill_cache(timeout_s=60)
    assert fill.compiled and fill.ok, fill
    assert kernel_cache.cache_is_filled()
