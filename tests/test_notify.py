"""The systemd notify protocol against a datagram socket the test owns."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from arduino_trader.daemon.notify import SystemdNotifier


@pytest.fixture
def sock(tmp_path: Path) -> Iterator[socket.socket]:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(str(tmp_path / "notify"))
    s.settimeout(1)
    yield s
    s.close()


def test_messages_reach_the_socket(sock: socket.socket) -> None:
    n = SystemdNotifier.from_env({"NOTIFY_SOCKET": sock.getsockname(),
                                  "WATCHDOG_USEC": "4000000"})
    assert n.enabled and n.watchdog_interval() == 4.0
    assert n.ready() and n.watchdog() and n.status("running\nfine") and n.stopping()
    got = [sock.recv(256).decode() for _ in range(4)]
    assert got == ["READY=1", "WATCHDOG=1", "STATUS=running fine", "STOPPING=1"]


def test_abstract_socket_address() -> None:
    name = f"arduino-trader-test-{id(object())}"
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind("\0" + name)
    s.settimeout(1)
    try:
        assert SystemdNotifier("@" + name, None).ready()
        assert s.recv(64) == b"READY=1"
    finally:
        s.close()


def test_without_systemd_everything_is_a_no_op() -> None:
    n = SystemdNotifier.from_env({})
    assert not n.enabled and n.watchdog_interval() is None
    assert not n.ready() and not n.watchdog()


def test_watchdog_for_another_pid_is_ignored() -> None:
    n = SystemdNotifier.from_env({"NOTIFY_SOCKET": "/x", "WATCHDOG_USEC": "1000000",
                                  "WATCHDOG_PID": "1"})
    assert n.watchdog_interval() is None


def test_a_dead_socket_never_raises(tmp_path: Path) -> None:
    n = SystemdNotifier(str(tmp_path / "missing"), None)
    assert n.ready() is False
