"""Secrets at rest: the key file is made once (owner-only), a secret survives a restart
with the same key file, and a key file without a key is refused when the daemon starts,
not at the first secret."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from arduino_trader.daemon.secrets_box import SecretBox


def test_a_secret_round_trips_across_restarts(tmp_path: Path) -> None:
    key_file = tmp_path / "state" / "secret.key"
    token = SecretBox(key_file).encrypt("tradernet-private-key")
    assert "tradernet-private-key" not in token
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    key = key_file.read_bytes()
    assert SecretBox(key_file).decrypt(token) == "tradernet-private-key"
    assert key_file.read_bytes() == key  # made once
    assert Fernet(key).decrypt(token.encode()) == b"tradernet-private-key"  # a Fernet key


def test_another_key_cannot_decrypt(tmp_path: Path) -> None:
    token = SecretBox(tmp_path / "a.key").encrypt("x" * 20)
    with pytest.raises(ValueError, match="cannot be decrypted"):
        SecretBox(tmp_path / "b.key").decrypt(token)


@pytest.mark.parametrize("content", [b"", b"not base64 at all!", b"c2hvcnQ="])
def test_a_key_file_without_a_key_is_refused_at_once(tmp_path: Path, content: bytes) -> None:
    key_file = tmp_path / "secret.key"
    key_file.write_bytes(content)
    with pytest.raises(ValueError, match="holds no secrets key"):
        SecretBox(key_file)
