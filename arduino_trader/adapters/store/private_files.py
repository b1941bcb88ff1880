"""Files only the daemon's user may read: the database and its backups hold the whole
portfolio, so they are created with mode 0600 whatever the umask (SQLite gives the
``-wal`` and ``-shm`` files the database file's mode)."""

from __future__ import annotations

import os
from pathlib import Path

FILE_MODE = 0o600
DIR_MODE = 0o700


def create_private(path: Path) -> None:
    """Create ``path`` empty with mode 0600, unless it exists (then it is left alone)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    except FileExistsError:
        return
    os.close(fd)
