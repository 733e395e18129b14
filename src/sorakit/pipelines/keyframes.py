"""Start images for keyframes mode: one image job per segment, drawn before any video renders.

Each keyframe is an image job of the ledger (`Engine.create_image`), a pipeline step named
`keyframe-N`, so it has an owner, a cost and a budget like the segments, and a resume never
draws it (or pays for it) again. The image model is the settings' `SORAKIT_IMAGE_MODEL`, except
that the simulator's videos open on `sim-image` stills (free and deterministic). The picture is
drawn at the model's size nearest the video's shape, then cropped to the video's size; that
fitted frame is what the segment starts from, and is kept in the pipeline's folder.
"""

from __future__ import annotations

import math
from pathlib import Path

from sorakit.catalog import ModelEntry
from sorakit.catalog.capabilities import parse_size
from sorakit.catalog.images import SIM_IMAGE
from sorakit.engine import Engine
from sorakit.errors import ConfigurationError, NotFoundError
from sorakit.media.images import encode_image, fit_image, load_image

KEYFRAME_STEP = "keyframe"
"""The step name prefix of a keyframe's image job (`keyframe-3`)."""


def keyframe_prompt(prompt: str) -> str:
    """What the image model is asked for: the segment's opening frame, without captions."""
    return f"A single film frame, no text: {prompt}"


def keyframe_model(engine: Engine, video: ModelEntry, chosen: str | None = None) -> ModelEntry:
    """The image model drawing `video`'s keyframes: `chosen` (what the pipeline recorded), else
    `sim-image` for the simulator's videos (offline and deterministic), else the settings'
    `SORAKIT_IMAGE_MODEL`. Refused readably where it is missing, makes videos, or is the
    offline simulator standing in (under an OpenAI name) for a live video model's pictures."""
    settings_model = engine.settings.image_model
    name = chosen or (SIM_IMAGE if video.provider == "simulator" else settings_model)
    try:
        entry, _ = engine.catalog.route(name)
    except NotFoundError:
        known = ", ".join(sorted(e.name for e in engine.catalog.images())) or "none"
        raise ConfigurationError(
            f"keyframes mode draws its start images with SORAKIT_IMAGE_MODEL={name}, which is "
            f"not a model here; set it to an image model ({known}) or use --mode chain"
        ) from None
    if entry.capabilities.output != "image":
        raise ConfigurationError(
            f"SORAKIT_IMAGE_MODEL={name} makes videos; keyframes mode needs an image model "
            "for its start images"
        )
    if video.provider != "simulator" and entry.provider == "simulator" and name != entry.name:
        raise ConfigurationError(
            f"keyframes mode on {video.name} needs a real image model for its start images, "
            f"but SORAKIT_IMAGE_MODEL={name} is the offline simulator here: set it to an image "
            "model of a configured provider (e.g. fal/flux-schnell), or use --mode chain"
        )
    return entry


def keyframe_size(image: ModelEntry, video_size: str) -> str:
    """The image model's size nearest the video's shape (aspect ratio), the smallest of those
    that covers the video (so the crop never enlarges), else the largest."""
    width, height = parse_size(video_size)
    sizes = [(size, *parse_size(size)) for size in image.capabilities.sizes]

    def misfit(item: tuple[str, int, int]) -> float:
        return round(abs(math.log((item[1] / item[2]) / (width / height))), 6)

    nearest = min(misfit(item) for item in sizes)
    shaped = [item for item in sizes if misfit(item) == nearest]
    covering = [item for item in shaped if item[1] >= width and item[2] >= height]
    if covering:
        return min(covering, key=lambda item: item[1] * item[2])[0]
    return max(shaped, key=lambda item: item[1] * item[2])[0]


def keyframes_cost(image: ModelEntry, video_size: str, count: int) -> float | None:
    """The list price of `count` keyframes, or None where the image model's price is unknown."""
    price = image.capabilities.price(keyframe_size(image, video_size), 0)
    return None if price is None else round(price * count, 6)


def fitted_keyframe(image: Path, size: str) -> bytes:
    """The image job's picture cropped to the video's `size`, as PNG (blocking)."""
    return encode_image(fit_image(load_image(image.read_bytes()), parse_size(size)), "PNG")
