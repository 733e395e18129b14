"""Signed, expiring download links: how a chat answer hands out a video without the caller's key.

A chat client shows the link to a person (or embeds it in `<video src>`), and neither can send a
bearer token, so the link itself is the credential: an HMAC over the kind, the id and the expiry,
with a server key made once and kept in SORAKIT_HOME beside the callback key. A `video` link
serves a job's MP4 (a `thumbnail` or `spritesheet` link, the same path with `?variant=`, its
other files); a `pipeline` link serves a finished pipeline's output (a stitched storyboard); an
`image` link serves an image job's file.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import Literal
from urllib.parse import quote, urlencode

from sorakit.engine.callbacks import load_key
from sorakit.errors import PermissionDeniedError
from sorakit.settings import Settings

LinkKind = Literal["video", "pipeline", "image", "thumbnail", "spritesheet"]
VideoVariant = Literal["video", "thumbnail", "spritesheet"]
"""The files of a video a link may serve; each is its own kind, so one file's link opens no other."""
LINK_PATH = "/v1/links/{video_id}/content"
"""Where the gateway serves a video (or, with `?variant=`, its thumbnail or spritesheet) for a
valid signature."""
PIPELINE_LINK_PATH = "/v1/links/pipelines/{pipeline_id}/content"
"""Where the gateway serves a finished pipeline's video for a valid signature."""
IMAGE_LINK_PATH = "/v1/images/{image_id}/content"
"""Where the Images API serves an image job's file for a valid signature."""
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

    def signature(self, video_id: str, expires: int, kind: LinkKind = "video") -> str:
        # A video's message has no kind (links handed out before pipelines keep working).
        message = f"{video_id}\n{expires}" if kind == "video" else f"{kind}:{video_id}\n{expires}"
        return hmac.new(self._key, message.encode("utf-8", "replace"), hashlib.sha256).hexdigest()

    def path(self, video_id: str, *, kind: LinkKind = "video", now: float | None = None) -> str:
        """The link's path and query, valid for `ttl` seconds from `now`."""
        expires = int((time.time() if now is None else now) + self.ttl)
        fields = {"expires": expires, "signature": self.signature(video_id, expires, kind)}
        if kind in ("thumbnail", "spritesheet"):  # a video's other files: its path, `?variant=`
            fields = {"variant": kind, **fields}
        query = urlencode(fields)
        name = quote(video_id, safe="")
        where = {
            "video": LINK_PATH.format(video_id=name),
            "thumbnail": LINK_PATH.format(video_id=name),
            "spritesheet": LINK_PATH.format(video_id=name),
            "pipeline": PIPELINE_LINK_PATH.format(pipeline_id=name),
            "image": IMAGE_LINK_PATH.format(image_id=name),
        }[kind]
        return f"{where}?{query}"

    def verify(
        self,
        video_id: str,
        expires: int,
        signature: str,
        *,
        kind: LinkKind = "video",
        now: float | None = None,
    ) -> str | None:
        """Why the link is refused (`expired`, `invalid`), or None when it is good."""
        expected = self.signature(video_id, expires, kind).encode()
        # As bytes: compare_digest refuses a non-ASCII str, and a link's query may hold anything.
        if not hmac.compare_digest(expected, signature.encode("utf-8", "replace")):
            return "invalid"
        if expires < (time.time() if now is None else now):
            return "expired"
        return None

    def check(self, name: str, expires: int, signature: str, *, kind: LinkKind = "video") -> None:
        """`verify`, as the error a refused link is answered with."""
        refusal = self.verify(name, expires, signature, kind=kind)
        if refusal == "expired":
            raise PermissionDeniedError(
                "This link has expired; ask again for a new one.", param="expires"
            )
        if refusal is not None:
            raise PermissionDeniedError("This link's signature is not valid.", param="signature")
