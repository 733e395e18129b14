"""Signed per-job callback URLs: how a provider that calls back (fal's webhooks) reaches us.

The URL carries an HMAC of the job id, so only the provider we gave it to can use it. Even so a
call is only a hint: it wakes the job's tracker, which reads the state from the provider's own
status API. A forged or replayed call therefore costs one status request and changes nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import time
from pathlib import Path
from urllib.parse import quote

from sorakit.settings import Settings

CALLBACK_PATH = "/callbacks/{video_id}"
"""Where `sorakit serve` takes provider callbacks."""


class CallbackSigner:
    """Makes and checks the callback URL of each job."""

    def __init__(self, public_url: str, key: bytes) -> None:
        self.public_url = public_url.rstrip("/")
        self._key = key

    @classmethod
    def from_settings(cls, settings: Settings) -> CallbackSigner | None:
        """A signer when `public_url` is set; the key is made once and kept in SORAKIT_HOME."""
        if not settings.public_url:
            return None
        return cls(settings.public_url, load_key(settings.home / "callback.key"))

    def token(self, video_id: str) -> str:
        return hmac.new(self._key, video_id.encode(), hashlib.sha256).hexdigest()[:40]

    def url(self, video_id: str) -> str:
        path = CALLBACK_PATH.format(video_id=quote(video_id, safe=""))
        return f"{self.public_url}{path}?token={self.token(video_id)}"

    def verify(self, video_id: str, token: str) -> bool:
        return hmac.compare_digest(self.token(video_id).encode(), token.encode("utf-8", "replace"))


def load_key(path: Path) -> bytes:
    """A 32-byte key kept in a file (made once, mode 600); shared by every process."""
    try:
        return bytes.fromhex(path.read_text().strip())
    except (FileNotFoundError, ValueError):
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_bytes(32)
    # O_EXCL: when two processes start at once, the second reads the first one's key.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        for _ in range(100):  # the other process may not have written it yet
            if text := path.read_text().strip():
                return bytes.fromhex(text)
            time.sleep(0.01)
        raise
    with os.fdopen(fd, "w") as handle:
        handle.write(key.hex())
    return key
