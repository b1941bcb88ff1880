"""The planner's Numba kernels compiled by a short-lived child process.

Numba writes what it compiles to its on-disk cache, but the process that compiled keeps
the memory the compilation used (LLVM's modules: ~150 MB more than loading the same
kernels from the cache, for the rest of its life). So when the cache does not hold this
code's kernels yet (a first start, an upgrade), the daemon has a child process compile
them and exit, then loads them from the cache itself: the long-running daemon never holds
the compiler's memory, and the child's is returned to the board as soon as it is done.

Whether the cache holds them is told by a stamp written beside the cache once a child
has compiled: the Python, NumPy and Numba versions, the machine and the source of every
module with cached kernels. A missing or different stamp means compile — from scratch:
the kernel modules' cache files are removed first, because Numba checks only the file of
the kernel it loads, so a kernel whose callee in another module changed (``evaluation``
calling ``end_state_score.alignment``) would otherwise be loaded stale.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import resource
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numba
import numpy

import arduino_trader

PACKAGE_DIR = Path(arduino_trader.__file__).resolve().parent
# The modules whose ``@njit(cache=True)`` kernels the plan and the scoring use.
KERNEL_SOURCES = ("domain/planner/evaluation.py", "domain/planner/sequence_walk.py",
                  "domain/planner/end_state_score.py", "domain/scoring/kernels.py")
STAMP_NAME = "arduino-trader-kernels.stamp"
COMPILE_TIMEOUT_S = 3600.0  # minutes under emulation; a board takes far less


@dataclass(frozen=True)
class CacheFill:
    """What :func:`fill_cache` did: whether a child compiled, how long it took, its peak
    resident memory, and why it failed (``ok`` False: the caller compiles in-process)."""

    compiled: bool
    ok: bool
    seconds: float = 0.0
    peak_rss_mb: float | None = None
    error: str = ""


def kernels_key() -> str:
    """The identity of the kernels this code compiles on this machine."""
    digest = hashlib.sha256()
    for part in (sys.version, numpy.__version__, numba.__version__, platform.machine()):
        digest.update(part.encode() + b"\0")
    for name in KERNEL_SOURCES:
        digest.update(name.encode() + b"\0" + (PACKAGE_DIR / name).read_bytes())
    return digest.hexdigest()


def stamp_path() -> Path:
    """Where the stamp lives: in ``NUMBA_CACHE_DIR`` when set (the systemd unit sets it),
    else beside Numba's default cache of the planner's modules."""
    configured = os.environ.get("NUMBA_CACHE_DIR", "")
    if configured:
        return Path(configured) / STAMP_NAME
    return PACKAGE_DIR / "domain" / "planner" / "__pycache__" / STAMP_NAME


def cache_is_filled() -> bool:
    """True when a child compiled these kernels into this cache and every kernel module
    still has its index there (a stamp whose cache files were removed since, say by
    another checkout's compile, would have the daemon compile in-process)."""
    try:
        if stamp_path().read_text().strip() != kernels_key():
            return False
    except OSError:
        return False
    return all(_module_files(name, in_use_only=True, suffix="nbi") for name in KERNEL_SOURCES)


def _module_files(name: str, in_use_only: bool = False, suffix: str = "nb[ic]") -> list[Path]:
    """Numba's cache files of one kernel module: beside its source in ``__pycache__``,
    or under ``NUMBA_CACHE_DIR`` in the directory Numba names after the source's
    directory (``<dir name>_<hash of its path>``); ``in_use_only``: only the place Numba
    reads from now (``NUMBA_CACHE_DIR`` when set)."""
    configured = os.environ.get("NUMBA_CACHE_DIR", "")
    source = PACKAGE_DIR / name
    places: list[tuple[Path, str]] = []
    if not (in_use_only and configured):
        places.append((source.parent / "__pycache__", ""))
    if configured:
        places.append((Path(configured), f"{source.parent.name}_*/"))
    return [path for root, subdir in places
            for path in root.glob(f"{subdir}{source.stem}.*.{suffix}")]


def kernel_cache_files() -> list[Path]:
    """Numba's cache files (index ``.nbi``, code ``.nbc``) of the kernel modules, in
    both places Numba may keep them (see :func:`_module_files`)."""
    return sorted({path for name in KERNEL_SOURCES for path in _module_files(name)})


def clear_kernel_caches() -> int:
    """Remove the kernel modules' cache files, so the next compile starts from nothing;
    the number removed. A file that cannot be removed is left (the compile that follows
    may then load it, as before)."""
    removed = 0
    for path in kernel_cache_files():
        try:
            path.unlink()
            removed += 1
        except OSError:
            continue
    return removed


def fill_cache(timeout_s: float = COMPILE_TIMEOUT_S) -> CacheFill:
    """Compile the kernels in a child process unless the cache holds them already; then
    write the stamp. Never raises: a failed child is reported in the result."""
    if cache_is_filled():
        return CacheFill(compiled=False, ok=True)
    clear_kernel_caches()
    started = time.monotonic()
    env_path = str(PACKAGE_DIR.parent)
    cmd = [sys.executable, "-c",
           f"import sys; sys.path.insert(0, {env_path!r}); "
           "from arduino_trader.adapters.kernel_cache import compile_here; compile_here()"]
    try:  # this interpreter and a fixed statement: no outside input reaches the command
        done = subprocess.run(cmd, capture_output=True, text=True,  # noqa: S603
                              timeout=timeout_s, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return CacheFill(compiled=True, ok=False, seconds=time.monotonic() - started,
                         error=f"{type(exc).__name__}: {exc}")
    seconds = time.monotonic() - started
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        return CacheFill(compiled=True, ok=False, seconds=seconds,
                         error=f"exit {done.returncode}: {tail[0]}")
    try:
        peak = float(json.loads(done.stdout.strip().splitlines()[-1])["peak_rss_mb"])
    except (ValueError, KeyError, IndexError) as exc:
        return CacheFill(compiled=True, ok=False, seconds=seconds,
                         error=f"unreadable answer: {exc}")
    try:
        stamp = stamp_path()
        stamp.parent.mkdir(parents=True, exist_ok=True)
        stamp.write_text(kernels_key() + "\n")
    except OSError as exc:  # compiled all the same; the next start compiles again
        return CacheFill(compiled=True, ok=True, seconds=seconds, peak_rss_mb=peak,
                         error=f"stamp not written: {exc}")
    return CacheFill(compiled=True, ok=True, seconds=seconds, peak_rss_mb=peak)


def compile_here() -> None:
    """The child's work: compile (or load) every kernel signature a plan uses, then print
    this process's peak resident memory as one JSON line."""
    from arduino_trader.domain.planner.plan import warm_up

    warm_up()
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"peak_rss_mb": round(peak_kb / 1024, 1)}), flush=True)


__all__ = ["CacheFill", "cache_is_filled", "clear_kernel_caches", "compile_here", "fill_cache",
           "kernel_cache_files", "kernels_key", "stamp_path"]
