"""Restarting the service from inside, within the systemd unit's hardening.

The shipped unit sets ``NoNewPrivileges=yes`` and an empty ``CapabilityBoundingSet=``, so
the daemon cannot gain privileges (no ``sudo systemctl restart``). Instead it stops
cleanly and exits with :data:`RESTART_EXIT_CODE`; the unit lists that code in
``RestartForceExitStatus=`` (and ``Restart=on-failure`` restarts any non-zero exit), so
systemd starts it again. Run by hand, the process simply exits with that code.
"""

from __future__ import annotations

import threading
from pathlib import Path

RESTART_EXIT_CODE = 75  # EX_TEMPFAIL: "try again", restarted by the unit


class ExitRequest:
    """Asked by the API, honoured by the main thread: stop, then exit with ``code``."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.code = 0

    def request(self, code: int) -> None:
        """Ask the main thread to stop the daemon and exit with ``code``."""
        self.code = code
        self.event.set()


def no_new_privileges(status_file: Path = Path("/proc/self/status")) -> bool:
    """True when the kernel forbids this process to gain privileges (sudo cannot work)."""
    try:
        text = status_file.read_text(encoding="ascii", errors="replace")
    except OSError:
        return False
    for line in text.splitlines():
        name, _, value = line.partition(":")
        if name == "NoNewPrivs":
            return value.strip() == "1"
    return False
