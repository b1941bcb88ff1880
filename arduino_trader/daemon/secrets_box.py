"""Encryption of write-only secrets at rest (Fernet, key file in the data directory).

A copied database or backup does not reveal broker credentials without the key file.
The key file is made when the box is; the cipher (cryptography, ~6 MB resident) is
loaded on the first secret encrypted or decrypted, so a daemon with no stored secret
(the paper broker, the demo) never holds it.
"""

from __future__ import annotations

import base64
import os
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cryptography.fernet import Fernet

KEY_BYTES = 32  # a Fernet key: 32 random bytes, URL-safe base64


class SecretBox:
    """Encrypts and decrypts secret setting values with a per-installation key."""

    def __init__(self, key_file: Path) -> None:
        """Read ``key_file`` (made when missing); ValueError when it holds no key."""
        self._key = self._load_or_create(key_file)
        try:
            raw = base64.urlsafe_b64decode(self._key)
        except ValueError:
            raw = b""
        if len(raw) != KEY_BYTES:
            raise ValueError(f"{key_file} holds no secrets key ({KEY_BYTES} URL-safe "
                             "base64-encoded bytes)")

    @staticmethod
    def _load_or_create(key_file: Path) -> bytes:
        if key_file.exists():
            return key_file.read_bytes().strip()
        key_file.parent.mkdir(parents=True, exist_ok=True)
        key = base64.urlsafe_b64encode(os.urandom(KEY_BYTES))
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(key)
        return key

    @cached_property
    def _fernet(self) -> Fernet:
        from cryptography.fernet import Fernet  # the first secret only

        return Fernet(self._key)

    def encrypt(self, plain: str) -> str:
        """Token text for ``plain``."""
        return self._fernet.encrypt(plain.encode("utf-8")).decode("ascii")

    def decrypt(self, token: str) -> str:
        """Plain text of ``token``; ValueError if the key does not match."""
        from cryptography.fernet import InvalidToken

        try:
            return self._fernet.decrypt(token.encode("ascii")).decode("utf-8")
        except InvalidToken as exc:
            raise ValueError("secret cannot be decrypted with this key file") from exc
