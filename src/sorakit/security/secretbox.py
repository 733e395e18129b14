"""Secrets at rest: upstream credentials, proxies and tenants' webhook secrets, sealed with a key
from the environment (`SORAKIT_SECRET_KEY`).

The ledger holds only Fernet tokens (AES-128-CBC with HMAC-SHA256), so a copied database or
backup reveals no credential without the key. `SORAKIT_SECRET_KEY` may list several keys,
comma-separated: the first seals, all of them open, which is how a key is rotated
(`sorakit pools rekey` re-seals everything with the first).
"""

from __future__ import annotations

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from sorakit.errors import ConfigurationError

MIN_KEY_CHARS = 32
KEY_HINT = "set SORAKIT_SECRET_KEY to a random string (make one with `sorakit pools keygen`)"


def generate_key() -> str:
    """A new random key, fit for `SORAKIT_SECRET_KEY`."""
    return Fernet.generate_key().decode()


def _fernet(key: str) -> Fernet:
    """A Fernet key as is; any other long random string is hashed into one."""
    try:
        return Fernet(key.encode())
    except ValueError:
        if len(key) < MIN_KEY_CHARS:
            raise ConfigurationError(
                f"SORAKIT_SECRET_KEY must be a Fernet key or at least {MIN_KEY_CHARS} random "
                f"characters; {KEY_HINT}"
            ) from None
        return Fernet(base64.urlsafe_b64encode(hashlib.sha256(key.encode()).digest()))


class SecretBox:
    """Seals and opens secrets with the configured keys."""

    def __init__(self, keys: str) -> None:
        parts = [part.strip() for part in keys.split(",") if part.strip()]
        if not parts:
            raise ConfigurationError(f"no secret key is configured; {KEY_HINT}")
        self._fernet = MultiFernet([_fernet(part) for part in parts])

    def seal(self, secret: str) -> str:
        """The secret as a token that only these keys open."""
        return self._fernet.encrypt(secret.encode()).decode()

    def open(self, token: str) -> str:
        """The secret a token holds."""
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except InvalidToken:
            raise ConfigurationError(
                "a stored secret cannot be opened with SORAKIT_SECRET_KEY: the key changed; "
                "list the old key after the new one (comma-separated) to read it"
            ) from None

    def reseal(self, token: str) -> str:
        """The token sealed again with the first key (key rotation)."""
        return self._fernet.rotate(token.encode()).decode()
