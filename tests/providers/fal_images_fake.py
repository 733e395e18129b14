"""fal's image endpoints for the queue fake (`fal_fake`): their input schemas and their results.

Written from fal's model pages (FLUX.1 [schnell]/[dev], Nano Banana 2 and its edit), not from
the adapter's input maps: FLUX takes `image_size` as a preset name or `{width, height}` and
answers `{images: [{url, width, height, content_type}], has_nsfw_concepts, seed, prompt,
timings}`, a flagged image coming back blacked out with `has_nsfw_concepts: [true]`; Nano Banana
2 takes `aspect_ratio` + `resolution` and answers `{images: [{url, content_type, file_name,
file_size, width, height}], description}`. The images are real files of the size and format
asked for, rendered with Pillow and served from the fake's media host.
"""

from __future__ import annotations

import io
from typing import Any

from PIL import Image

from tests.providers.fal_schemas_fake import Field, validation_error

FLUX_PRESETS = {
    "square_hd": (1024, 1024),
    "square": (512, 512),
    "portrait_4_3": (768, 1024),
    "portrait_16_9": (576, 1024),
    "landscape_4_3": (1024, 768),
    "landscape_16_9": (1024, 576),
}
GEMINI_1K = {
    "1:1": (1024, 1024),
    "16:9": (1376, 768),
    "9:16": (768, 1376),
    "4:3": (1200, 896),
    "3:4": (896, 1200),
    "3:2": (1264, 848),
    "2:3": (848, 1264),
    "21:9": (1584, 672),
    "5:4": (1152, 928),
    "4:5": (928, 1152),
}
"""Gemini 3 image models' 1K sizes; 2K doubles them, 4K quadruples, 0.5K halves."""
SCALE = {"0.5K": 0.5, "1K": 1, "2K": 2, "4K": 4}
MEDIA_TYPES = {"jpeg": "image/jpeg", "png": "image/png", "webp": "image/webp"}

_FLUX: dict[str, Field] = {
    "image_size": (dict, None),
    "num_inference_steps": (int, None),
    "seed": (int, None),
    "num_images": (int, (1, 2, 3, 4)),
    "enable_safety_checker": (bool, None),
    "sync_mode": (bool, None),
    "output_format": (str, ("jpeg", "png")),
    "acceleration": (str, ("none", "regular", "high")),
}
_NANO: dict[str, Field] = {
    "num_images": (int, (1, 2, 3, 4)),
    "aspect_ratio": (str, ("auto", *GEMINI_1K)),
    "resolution": (str, tuple(SCALE)),
    "output_format": (str, ("jpeg", "png", "webp")),
    "seed": (int, None),
    "safety_tolerance": (str, ("1", "2", "3", "4", "5", "6")),
    "limit_generations": (bool, None),
    "enable_web_search": (bool, None),
    "sync_mode": (bool, None),
}

IMAGE_SCHEMAS: dict[str, tuple[dict[str, Field], frozenset[str]]] = {
    "fal-ai/flux/schnell": ({"prompt": (str, None), **_FLUX}, frozenset({"prompt"})),
    "fal-ai/flux/dev": (
        {"prompt": (str, None), **_FLUX, "guidance_scale": (float, None)},
        frozenset({"prompt"}),
    ),
    "fal-ai/nano-banana-2": ({"prompt": (str, None), **_NANO}, frozenset({"prompt"})),
    "fal-ai/nano-banana-2/edit": (
        {"prompt": (str, None), **_NANO, "image_urls": (list, (14,))},
        frozenset({"prompt", "image_urls"}),
    ),
}


def image_size_errors(arguments: dict[str, Any]) -> list[dict[str, Any]]:
    """FLUX's `image_size`: a preset name, or `{width, height}` as ints up to 14142."""
    value = arguments.get("image_size")
    if value is None or (isinstance(value, str) and value in FLUX_PRESETS):
        return []
    ok = (
        isinstance(value, dict)
        and set(value) == {"width", "height"}
        and all(type(v) is int and 0 < v <= 14142 for v in value.values())
    )
    return (
        []
        if ok
        else [validation_error("image_size", "Input should be a valid ImageSize", "model_type")]
    )


def output_size(endpoint: str, arguments: dict[str, Any]) -> tuple[int, int]:
    """The pixel size the model renders for these arguments."""
    if endpoint.startswith("fal-ai/flux/"):
        value = arguments.get("image_size", "landscape_4_3")
        if isinstance(value, dict):
            return int(value["width"]), int(value["height"])
        return FLUX_PRESETS[value]
    aspect = arguments.get("aspect_ratio", "auto")
    width, height = GEMINI_1K["1:1" if aspect == "auto" else aspect]
    scale = SCALE[arguments.get("resolution", "1K")]
    return int(width * scale), int(height * scale)


def render(width: int, height: int, fmt: str, *, black: bool = False) -> bytes:
    """A real image file of that size and format."""
    color = (0, 0, 0) if black else (200, 120, 40)
    out = io.BytesIO()
    Image.new("RGB", (width, height), color).save(out, format=fmt.upper())
    return out.getvalue()


def image_result(
    endpoint: str, arguments: dict[str, Any], url_base: str, *, flagged: bool
) -> tuple[dict[str, Any], bytes, str]:
    """The result body, the image's bytes and its media type."""
    width, height = output_size(endpoint, arguments)
    flux = endpoint.startswith("fal-ai/flux/")
    fmt = arguments.get("output_format", "jpeg" if flux else "png")
    data = render(width, height, fmt, black=flagged)
    url = f"{url_base}.{fmt}"
    image: dict[str, Any] = {
        "url": url,
        "width": width,
        "height": height,
        "content_type": MEDIA_TYPES[fmt],
    }
    if flux:
        body = {
            "images": [image],
            "has_nsfw_concepts": [flagged],
            "seed": 42,
            "prompt": arguments["prompt"],
            "timings": {"inference": 0.4},
        }
    else:
        image |= {"file_name": f"output.{fmt}", "file_size": len(data)}
        body = {"images": [image], "description": ""}
    return body, data, MEDIA_TYPES[fmt]
