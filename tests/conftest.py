"""Shared fixtures: the I/O loop, a bus, a store in a temp dir, and actor cleanup."""

from __future__ import annotations

import os
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pykka
import pytest
from hypothesis import settings

os.environ.setdefault("NUMBA_CACHE_DIR", str(Path(tempfile.gettempdir()) / "arduino-trader-numba"))

from arduino_trader.adapters.kernel_cache import fill_cache as fill_kernel_cache
from arduino_trader.adapters.store.sqlite import SqliteStore
from arduino_trader.daemon.bus import ActorBus
from arduino_trader.daemon.io_loop import IoLoop

# Properties assert results, never speed: a shared machine under load must not turn a
# slow example into a failure (performance lives in benchmarks/).
settings.register_profile("arduino-trader", deadline=None)
settings.load_profile("arduino-trader")

_EXIT_STATUS = pytest.StashKey[int]()


def pytest_sessionstart(session: pytest.Session) -> None:
    """Fill the Numba cache once (a child compiles the planner's kernels when it does not
    hold them yet), so that no daemon under test waits for a compile: every plan of the
    suite then starts from kernels loaded from the cache, as on a board after its first
    start. ``tests/test_kernel_cache.py`` covers the compile itself."""
    fill = fill_kernel_cache()
    if not fill.ok:
        raise pytest.UsageError(f"the planner's kernels could not be compiled: {fill.error}")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Remember the run's status for :func:`pytest_unconfigure`."""
    session.config.stash[_EXIT_STATUS] = int(exitstatus)


def pytest_unconfigure(config: pytest.Config) -> None:
    """A test that failed before stopping a supervisor (or another non-daemon thread)
    would keep the process alive for ever after the summary: name the threads and exit
    with the run's own status instead of hanging CI."""
    leaked = [t.name for t in threading.enumerate()
              if t is not threading.main_thread() and t.is_alive() and not t.daemon]
    if leaked:
        sys.stdout.flush()
        sys.stderr.write(f"\nnon-daemon threads left running: {', '.join(sorted(leaked))};"
                         " exiting without waiting for them\n")
        sys.stderr.flush()
        os._exit(config.stash.get(_EXIT_STATUS, 1))


@pytest.fixture(autouse=True)
def _stop_all_actors(request: pytest.FixtureRequest) -> Iterator[None]:
    """pykka threads are not daemon threads: a leaked actor would hang the test run. A
    module whose daemon lives for the module (``DAEMON_FOR_THE_MODULE = True``) stops it
    in its own fixture."""
    yield
    if not getattr(request.module, "DAEMON_FOR_THE_MODULE", False):
        pykka.ActorRegistry.stop_all(block=True, timeout=10)


@pytest.fixture
def io() -> Iterator[IoLoop]:
    """A running I/O loop thread."""
    loop = IoLoop()
    loop.start()
    yield loop
    loop.stop()


@pytest.fixture
def bus() -> ActorBus:
    """An empty actor bus."""
    return ActorBus()


@pytest.fixture
def store(io: IoLoop, tmp_path: Path) -> Iterator[SqliteStore]:
    """A migrated store in a temp dir (tests using it also get a running ``io`` loop)."""
    db = SqliteStore(tmp_path / "test.db", busy_timeout_ms=200)
    db.open()
    yield db
    db.close()


@pytest.fixture
def other_store(store: SqliteStore) -> Iterator[SqliteStore]:
    """A second connection to ``store``'s file: another writer (the admin API, another
    process)."""
    db = SqliteStore(store.path, busy_timeout_ms=200)
    db.open()
    yield db
    db.close()
