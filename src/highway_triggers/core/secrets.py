"""Secrets at rest: PyNaCl SecretBox under ``HIGHWAY_SECRET_KEY``."""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import secrets
from pathlib import Path

from nacl.secret import SecretBox

from highway_triggers.datadir import create_parent

log = logging.getLogger(__name__)
SEALED = "sealed:"
"""Prefix of a secret sealed inside stored JSON (a trigger's config, a signature object)."""


class SecretCipher:
    """Encrypts and decrypts short secrets (JWT secrets, webhook secrets) for storage."""

    def __init__(self, key_material: str) -> None:
        self.key = hashlib.blake2b(key_material.encode(), digest_size=SecretBox.KEY_SIZE).digest()
        """The 32-byte key; other keys are derived from it (signed links)."""
        self._box = SecretBox(self.key)

    @classmethod
    def from_settings(cls, secret_key: str | None, key_file: str) -> SecretCipher:
        """Use ``HIGHWAY_SECRET_KEY``; without it, a key kept in ``key_file`` (created once)."""
        if secret_key:
            return cls(secret_key)
        path = Path(key_file)
        if not path.exists():
            create_parent(path)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_urlsafe(32))
            log.warning("HIGHWAY_SECRET_KEY is not set: generated a key in %s", path.resolve())
        return cls(path.read_text().strip())

    def encrypt(self, plaintext: str) -> str:
        return base64.urlsafe_b64encode(self._box.encrypt(plaintext.encode())).decode()

    def decrypt(self, token: str) -> str:
        return self._box.decrypt(base64.urlsafe_b64decode(token.encode())).decode()

    def seal(self, value: str) -> str:
        """``value`` encrypted and marked as such; an already sealed value is kept."""
        return value if value.startswith(SEALED) else SEALED + self.encrypt(value)

    def unseal(self, value: str) -> str:
        """The plaintext of a sealed value; a value that is not sealed is returned as is."""
        return self.decrypt(value[len(SEALED) :]) if value.startswith(SEALED) else value
