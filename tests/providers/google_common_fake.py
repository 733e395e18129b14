"""The Google API vocabulary the Gemini and Vertex fakes share (providers.md §2 and §3).

The Google error envelope (`{"error": {code, message, status}}`), the job record both APIs keep,
the frame sizes of each aspect ratio and resolution, and the safety-filter reason of a blocked
prompt.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

from PIL import Image, UnidentifiedImageError
from starlette.responses import JSONResponse

SIZES = {
    ("16:9", "360p"): (640, 360),
    ("9:16", "360p"): (360, 640),
    ("16:9", "720p"): (1280, 720),
    ("9:16", "720p"): (720, 1280),
    ("16:9", "1080p"): (1920, 1080),
    ("9:16", "1080p"): (1080, 1920),
    ("16:9", "4k"): (3840, 2160),
    ("9:16", "4k"): (2160, 3840),
}
SAFETY_REASON = "Blocked by our safety filters (support code 58061214): prohibited content."


class GoogleApiError(Exception):
    """Raised inside a handler to answer the Google error envelope."""

    def __init__(self, code: int, status: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.code, self.status, self.message, self.extra = code, status, message, extra

    def response(self, headers: dict[str, str] | None = None) -> JSONResponse:
        error = {"code": self.code, "message": self.message, "status": self.status, **self.extra}
        return JSONResponse({"error": error}, status_code=self.code, headers=headers)


def bad(message: str) -> GoogleApiError:
    return GoogleApiError(400, "INVALID_ARGUMENT", message)


@dataclass
class Job:
    """One interaction or Veo operation the fake holds."""

    id: str
    model: str
    prompt: str
    size: tuple[int, int]
    seconds: int
    created: float
    first_frame: Image.Image | None = None
    """The image the video starts from, already at the frame size."""
    file_id: str | None = None
    deleted: bool = False
    cancelled: bool = False
    webhook_uris: tuple[str, ...] = ()
    images: tuple[str, ...] = ()
    """The role of each image sent (`FIRST_FRAME`, `LAST_FRAME`, `IMAGE_REF_0`, `ASSET`...)."""
    storage_uri: str | None = None


def fit_frame(data: bytes | None, width: int, height: int) -> Image.Image | None:
    """A first-frame image fitted to the frame; bytes that are no image are a 400."""
    if data is None:
        return None
    try:
        image = Image.open(io.BytesIO(data)).convert("RGB")
    except (UnidentifiedImageError, OSError):
        raise bad("Unable to process input image. Please retry or report in the forum.") from None
    return image.resize((width, height))
