"""The OpenAI Images API wire types (`/v1/images/generations`, `/v1/images/edits`), and sorakit's
own image job (`GET /v1/images/{id}`).

Field docs follow the official SDK. The request fields are checked by hand in
`sorakit.server.routes.images` (they arrive as JSON or as multipart); the enums are here.
"""

from __future__ import annotations

from typing import Literal, TypeAlias

from pydantic import BaseModel, ConfigDict

ImageSize: TypeAlias = (
    str | Literal["auto", "1024x1024", "1536x1024", "1024x1536", "256x256", "512x512"]
)
ImageStatus: TypeAlias = Literal["queued", "in_progress", "completed", "failed"]

RESPONSE_FORMATS = ("b64_json", "url")
QUALITIES = ("standard", "hd", "low", "medium", "high", "xhigh", "max", "auto")
BACKGROUNDS = ("transparent", "opaque", "auto")
MODERATIONS = ("low", "auto")
STYLES = ("vivid", "natural")
INPUT_FIDELITIES = ("high", "low")
COMPLEXITIES = ("low", "medium", "high")


class _Response(BaseModel):
    model_config = ConfigDict(extra="allow")


class Image(_Response):
    """One generated image."""

    b64_json: str | None = None
    """The base64-encoded image (`response_format: b64_json`, the default)."""
    url: str | None = None
    """A link to the image (`response_format: url`); it expires."""
    revised_prompt: str | None = None
    """The prompt the image was made from, where the model rewrote it."""


class ImageUsageDetails(_Response):
    """The input tokens by kind."""

    image_tokens: int = 0
    text_tokens: int = 0


class ImageUsage(_Response):
    """Token use, as gpt-image models report it (sorakit reports none: zeros)."""

    input_tokens: int = 0
    output_tokens: int = 0
    total_tokens: int = 0
    input_tokens_details: ImageUsageDetails = ImageUsageDetails()


class ImagesResponse(_Response):
    """The answer to a generation or an edit."""

    created: int
    """When the images were made (Unix seconds)."""
    data: list[Image]
    """The images, in request order."""
    size: str | None = None
    """The images' size."""
    output_format: Literal["png", "webp", "jpeg"] | None = None
    """The images' file format."""
    quality: str | None = None
    """The quality asked for (`auto` when not given)."""
    background: str | None = None
    """The background asked for (`auto` when not given)."""
    usage: ImageUsage | None = None
    """Token use (zeros: sorakit's providers bill per image, see `x-sorakit-cost`)."""


class ImageJobError(_Response):
    """Why an image job failed."""

    code: str
    message: str


class ImageJob(_Response):
    """One image job, as sorakit's ledger holds it (`GET /v1/images/{id}`; not in OpenAI's API)."""

    id: str
    """`img_` and 32 hex digits."""
    object: Literal["image"] = "image"
    model: str
    """The model asked for."""
    status: ImageStatus
    progress: int
    prompt: str
    size: str
    output_format: str
    created_at: int
    completed_at: int | None = None
    error: ImageJobError | None = None
    estimated_cost: float | None = None
    """USD, the list price when it was made."""
    cost: float | None = None
    """USD, what it cost (the provider's figure where it gives one)."""
