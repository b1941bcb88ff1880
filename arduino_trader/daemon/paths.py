"""Where the daemon keeps its state: data directory and the files inside it."""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from pathlib import Path

import platformdirs

DATA_DIR_ENV = "ARDUINO_TRADER_DATA_DIR"
TOKEN_FILE = "api-token"  # noqa: S105 - a file name, not a secret
DB_FILE = "arduino-trader.db"


def resolve_data_dir(explicit: Path | None, environ: Mapping[str, str]) -> Path:
    """``--data-dir`` > ``$ARDUINO_TRADER_DATA_DIR`` > ``$STATE_DIRECTORY`` (systemd) >
    the per-user state directory."""
    if explicit is not None:
        return explicit.expanduser().resolve()
    if environ.get(DATA_DIR_ENV):
        return Path(environ[DATA_DIR_ENV]).expanduser().resolve()
    if environ.get("STATE_DIRECTORY"):
        return Path(environ["STATE_DIRECTORY"].split(":")[0]).resolve()
    return Path(platformdirs.user_state_dir("arduino-trader")).resolve()


def read_or_create_token(data_dir: Path) -> tuple[str, Path, bool]:
    """The admin token from ``<data_dir>/api-token``, generated (mode 0600) when absent.

    Returns ``(token, path, created)``.
    """
    path = data_dir / TOKEN_FILE
    if path.exists():
        token = path.read_text(encoding="utf-8").strip()
        if token:
            return token, path, False
        path.unlink()
    token = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(token + "\n")
    return token, path, True
