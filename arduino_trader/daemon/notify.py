"""systemd's notify protocol, spoken directly over the ``NOTIFY_SOCKET`` datagram socket."""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping

import structlog

log = structlog.get_logger(component="notify")


class SystemdNotifier:
    """Sends ``READY=1``, ``WATCHDOG=1``, ``STATUS=...`` and ``STOPPING=1``.

    Without ``NOTIFY_SOCKET`` (not under systemd) every call is a no-op. A send that fails
    is logged once per kind and never raised: notification must not stop the daemon.
    """

    def __init__(self, address: str | None, watchdog_usec: int | None) -> None:
        self._address = address
        self._watchdog_usec = watchdog_usec
        self._failed: set[str] = set()

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> SystemdNotifier:
        """Read ``NOTIFY_SOCKET``, ``WATCHDOG_USEC`` and ``WATCHDOG_PID`` from the environment."""
        env = os.environ if environ is None else environ
        address = env.get("NOTIFY_SOCKET") or None
        usec: int | None = None
        raw = env.get("WATCHDOG_USEC", "")
        pid = env.get("WATCHDOG_PID", "")
        if raw.isdigit() and int(raw) > 0 and (not pid or pid == str(os.getpid())):
            usec = int(raw)
        return cls(address, usec)

    @property
    def enabled(self) -> bool:
        """True under systemd (a notify socket is set)."""
        return self._address is not None

    def watchdog_interval(self) -> float | None:
        """The watchdog timeout in seconds, or None when no watchdog is configured."""
        return self._watchdog_usec / 1_000_000 if self._watchdog_usec else None

    def ready(self) -> bool:
        """Tell systemd start-up is complete."""
        return self._send("READY=1")

    def watchdog(self) -> bool:
        """Feed the watchdog."""
        return self._send("WATCHDOG=1")

    def stopping(self) -> bool:
        """Tell systemd shutdown has begun."""
        return self._send("STOPPING=1")

    def status(self, text: str) -> bool:
        """Free-form status line shown by ``systemctl status``."""
        return self._send("STATUS=" + text.replace("\n", " "))

    def _send(self, message: str) -> bool:
        if self._address is None:
            return False
        address = self._address
        if address.startswith("@"):  # abstract namespace socket
            address = "\0" + address[1:]
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                sock.connect(address)
                sock.sendall(message.encode())
        except OSError as exc:
            kind = message.partition("=")[0]
            if kind not in self._failed:
                self._failed.add(kind)
                log.warning("notify_failed", message=kind, error=str(exc))
            return False
        return True
