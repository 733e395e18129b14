"""What the Gemini and Vertex providers share: sizes, remote ids, progress, moderation, streams."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import datetime

from sorakit.catalog.google import capabilities_of
from sorakit.errors import InvalidRequestError
from sorakit.providers.base import SubmitRequest

RESOLUTIONS = {360: "360p", 720: "720p", 1080: "1080p", 2160: "4k"}
"""The short side of a frame, in pixels, onto Google's `resolution` values."""
CHUNK_SIZE = 256 * 1024
_BLOCK_REASONS = frozenset(
    {
        "SAFETY",
        "PROHIBITED_CONTENT",
        "BLOCKLIST",
        "SPII",
        "RECITATION",
        "IMAGE_SAFETY",
        "IMAGE_PROHIBITED_CONTENT",
        "IMAGE_RECITATION",
    }
)
"""The Gemini API's block and finish reasons that name a content filter."""
# Every Responsible AI filter message ends "Support codes: 58061214[, ...]" (8-digit codes, see
# docs.cloud.google.com/gemini-enterprise-agent-platform/models/video/responsible-ai-and-usage-guidelines).
_SUPPORT_CODES = re.compile(r"\bsupport codes?:?\s*\d{8}\b", re.IGNORECASE)
_MODERATION = re.compile(
    r"safety|responsible ai|\brai\b|content[ _]filter|blocked by|prohibited|usage polic"
    r"|usage guidelines|sensitive",
    re.IGNORECASE,
)
SEPARATOR = "|"


def aspect_and_resolution(size: str, allowed: tuple[str, ...]) -> tuple[str, str]:
    """`"1280x720"` -> `("16:9", "720p")`; a size the model lacks is refused before sending."""
    try:
        width, height = (int(part) for part in size.lower().split("x"))
    except ValueError:
        raise InvalidRequestError(f"size must be WxH, not {size!r}", param="size") from None
    short = min(width, height)
    resolution = RESOLUTIONS.get(short)
    if (width * 9 != height * 16 and width * 16 != height * 9) or resolution is None:
        raise InvalidRequestError(
            f"size {size} is not one this model renders", param="size", allowed=allowed
        )
    if allowed and size not in allowed:
        raise InvalidRequestError(
            f"size {size} is not one this model renders", param="size", allowed=allowed
        )
    return ("16:9" if width > height else "9:16"), resolution


def check_seconds(request: SubmitRequest, allowed: tuple[int, ...]) -> None:
    """Refuse a clip length the model lacks before anything is sent."""
    if allowed and request.seconds not in allowed:
        raise InvalidRequestError(
            f"{request.model} renders {', '.join(map(str, allowed))} seconds, "
            f"not {request.seconds}",
            param="seconds",
            allowed=[str(value) for value in allowed],
        )


def expected_seconds(model: str, size: str, seconds: int) -> float:
    """The catalog's expected render time for this model, size and length."""
    caps = capabilities_of(model)
    if caps is None:
        return 120.0 + 30.0 * seconds
    return caps.expected_render_seconds(size, seconds)


def estimated_progress(started: float | None, now: float, expected: float) -> int:
    """Progress from elapsed versus expected time, capped at 99 until the job completes."""
    if started is None or expected <= 0:
        return 0
    return max(0, min(99, int(100 * (now - started) / expected)))


def parse_timestamp(value: object) -> float | None:
    """An RFC 3339 timestamp (`2026-11-23T10:00:00Z`) as unix seconds, or None."""
    if isinstance(value, datetime):
        return value.timestamp()
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def is_moderation(*texts: str | None) -> bool:
    """Whether a failure's code or reason says a safety filter blocked it: a block reason or a
    Responsible AI support code first, the wording last."""
    present = [text for text in texts if text]
    if any(
        text.strip().upper() in _BLOCK_REASONS or _SUPPORT_CODES.search(text) for text in present
    ):
        return True
    return any(_MODERATION.search(text) for text in present)


def encode_id(*parts: str) -> str:
    """A remote id carrying everything needed to reach the job again."""
    for part in parts:
        if SEPARATOR in part:
            raise InvalidRequestError(f"{part!r} cannot travel in a remote id")
    return SEPARATOR.join(parts)


def decode_id(remote_id: str, count: int, what: str) -> list[str]:
    """The parts of a remote id made by `encode_id`; anything else is refused."""
    parts = remote_id.split(SEPARATOR, count - 1)
    if len(parts) != count or not all(parts):
        raise InvalidRequestError(f"{remote_id!r} is not a {what} job id", param="video_id")
    return parts


async def byte_chunks(data: bytes) -> AsyncIterator[bytes]:
    """Bytes already in hand, in chunks."""
    for start in range(0, len(data), CHUNK_SIZE):
        yield data[start : start + CHUNK_SIZE]
