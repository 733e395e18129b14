"""Images a client names over HTTP, turned into bytes before the engine sees them.

The engine also takes a local path, for the CLI and the library. Over HTTP that would let a key
read the server's files (another key's archived `reference.png` included), so here an image URL
is a `data:` URL, decoded, or an http(s) URL, fetched through the SSRF guard; anything else is
refused with one message that never depends on what is on the server's disk.
"""

from __future__ import annotations

from sorakit.engine.planning import decode_data_url, is_data_url
from sorakit.errors import InvalidRequestError
from sorakit.security.ssrf import PUBLIC_ONLY, Policy, fetch_public

MAX_IMAGE_BYTES = 20 * 1024 * 1024
IMAGE_TIMEOUT = 20.0
IMAGE_POLICY: Policy = PUBLIC_ONLY
"""What an image URL may reach: public addresses only (tests widen it to loopback)."""


def is_image_url(url: str) -> bool:
    """Whether `url` is of a kind an HTTP client may name: a data URL or an http(s) URL."""
    return is_data_url(url) or url[:8].lower().startswith(("http://", "https://"))


def refusal(param: str, field: str | None = None) -> InvalidRequestError:
    """The one answer to any other image URL: it neither echoes the value nor looks it up."""
    return InvalidRequestError(
        f"'{field or param}' must be an http(s) URL or a data URL; this server reads no local "
        "files.",
        param=param,
        code="invalid_image_url",
    )


async def image_bytes(url: str, param: str) -> bytes:
    """A data URL decoded, or an http(s) URL fetched through the SSRF guard; refused otherwise."""
    if not is_image_url(url):
        raise refusal(param)
    if is_data_url(url):
        return decode_data_url(url, param)
    fetched = await fetch_public(
        url,
        max_bytes=MAX_IMAGE_BYTES,
        timeout=IMAGE_TIMEOUT,
        allowed_types=("image/*",),
        policy=IMAGE_POLICY,
        param=param,
    )
    return fetched.data
