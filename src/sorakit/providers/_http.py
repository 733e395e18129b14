"""What every HTTP-based provider shares: streaming a file, and reading Retry-After.

A body that breaks off, or ends before its Content-Length, raises `ContentDownloadError` (which
the engine retries); an error body is read quietly so it can still be translated.
"""

from __future__ import annotations

import email.utils
import logging
import time
from collections.abc import AsyncIterator, Mapping
from datetime import UTC
from typing import Any

import httpx

from sorakit.errors import ContentDownloadError

logger = logging.getLogger(__name__)

HTTPX_ERRORS = (httpx.HTTPError, httpx.InvalidURL, httpx.StreamError)
"""Everything httpx raises that must be translated before it leaves a provider."""


def content_length(response: httpx.Response) -> int | None:
    """The body's announced size, or None when absent or when the body is content-encoded."""
    raw = response.headers.get("content-length")
    encoded = response.headers.get("content-encoding", "identity").lower() != "identity"
    if encoded or raw is None or not raw.strip().isdigit():
        return None
    return int(raw)


async def read_quietly(response: httpx.Response, provider: str) -> None:
    """Read an error body so it can be translated; a body that breaks off reads as empty."""
    try:
        await response.aread()
    except HTTPX_ERRORS:
        logger.debug("%s: the error body of %s broke off", provider, response.request.url.path)


async def checked_chunks(
    response: httpx.Response, expected: int | None, *, provider: str, raw: bool = False
) -> AsyncIterator[bytes]:
    """The body's chunks; a body that breaks off or ends short raises `ContentDownloadError`."""
    received = 0
    stream = response.aiter_raw() if raw else response.aiter_bytes()
    try:
        async for chunk in stream:
            received += len(chunk)
            yield chunk
    except HTTPX_ERRORS as exc:
        raise ContentDownloadError(
            f"the {provider} download of {response.request.url.path} broke off after "
            f"{received} bytes ({type(exc).__name__}: {exc})",
            provider=provider,
            status_code=response.status_code,
        ) from exc
    if expected is not None and received != expected:
        raise ContentDownloadError(
            f"the {provider} download of {response.request.url.path} ended after {received} "
            f"of {expected} bytes",
            provider=provider,
            status_code=response.status_code,
        )


def parse_retry_after(
    headers: Mapping[str, Any] | httpx.Headers, *, now: float | None = None
) -> float | None:
    """Seconds to wait from `retry-after-ms`, else `retry-after` (seconds or an HTTP date)."""
    millis = headers.get("retry-after-ms")
    if millis is not None:
        try:
            value = float(millis) / 1000
        except ValueError:
            pass
        else:
            if value >= 0:
                return value
    raw = headers.get("retry-after")
    if raw is None:
        return None
    try:
        seconds = float(raw)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(raw)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:  # `-0000` means UTC without saying so
            when = when.replace(tzinfo=UTC)
        seconds = when.timestamp() - (time.time() if now is None else now)
        return max(seconds, 0.0)
    return seconds if seconds >= 0 else None
