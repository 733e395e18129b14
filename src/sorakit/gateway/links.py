"""Signed, expiring download links: how a chat answer hands out a video without the caller's key.

A chat client shows the link to a person (or embeds it in `<video src>`), and neither can send a
bearer token, so the link itself is the credential: an HMAC over the video id and the expiry,
with a server key made once and kept in SORAKIT_HOME beside the callback key.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from urllib.parse import quote, urlencode

from sorakit.engine.callbacks import load_key
from sorakit.settings import Settings

LINK_PATH = "/v1/links/{video_id}/content"
"""Where the gateway serves a video for a valid signature."""
LINK_TTL_SECONDS = 24 * 3600.0
"""How long a link works."""


class LinkSigner:
    """Makes and checks download links."""

    def __init__(self, key: bytes, *, ttl: float = LINK_TTL_SECONDS) -> None:
        self._key = key
        self.ttl = ttl

    @classmethod
    def from_settings(cls, settings: Settings, *, ttl: float = LINK_TTL_SECONDS) -> LinkSigner:
        """A signer whose key is made once and kept in SORAKIT_HOME (`links.key`)."""
        return cls(load_key(settings.home / "links.key"), ttl=ttl)

    def signature(self, video_id: str, expires: int) -> str:
        message = f"{video_id}\n{expires}".encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()

    def path(self, video_id: str, *, now: float | None = None) -> str:
        """The link's path and query, valid for `ttl` seconds from `now`."""
        expires = int((time.time() if now is None else now) + self.ttl)
        query = urlencode({"expires": expires, "signature": self.signature(video_id, expires)})
        return f"{LINK_PATH.format(video_id=quote(video_id, safe=''))}?{query}"

    def verify(
        self, video_id: str, expires: int, signature: str, *, now: float | None = None
    ) -> str | None:
        """Why the link is refused (`expired`, `invalid`), or None when it is good."""
        if not hmac.compare_digest(self.signature(video_id, expires), signature):
            return "invalid"
        if expires < (time.time() if now is None else now):
            return "expired"
        return None
