"""fal's image models: how an image `SubmitRequest` becomes one endpoint's input, and how the
result names the image.

Sources (fal model pages and API reference, seen Dec 2026):

- FLUX.1 [schnell] `fal-ai/flux/schnell` and FLUX.1 [dev] `fal-ai/flux/dev`
  (fal.ai/docs/model-api-reference/image-generation-api/flux-schnell.md; the llms.txt pages
  fal.ai/models/fal-ai/flux-1/{schnell,dev}/llms.txt): `prompt`, `image_size` as a preset name
  or `{width, height}`, `num_images`, `output_format` `jpeg`|`png`, `enable_safety_checker`;
  the result is `{images: [{url, width, height, content_type}], has_nsfw_concepts, seed, ...}`,
  and a flagged image comes back (blacked out) with `has_nsfw_concepts: [true]`.
- Nano Banana 2 `fal-ai/nano-banana-2` and `fal-ai/nano-banana-2/edit`
  (fal.ai/models/fal-ai/nano-banana-2/llms.txt): `prompt`, `num_images`, `aspect_ratio`
  (`auto`, `21:9` ... `9:16`), `resolution` (`0.5K`, `1K`, `2K`, `4K`), `output_format`
  `jpeg`|`png`|`webp`; the edit adds `image_urls`. The result is `{images: [{url,
  content_type, file_name, file_size, width, height}], description}`. The pixel size of each
  aspect ratio and resolution is Google's table for its Gemini 3 image models (ai.google.dev,
  Nano Banana docs), recalled rather than re-read: a hint of what comes back, checked only
  by decoding the file.

Input images travel as data URIs (as the video side sends reference images), which fal accepts
wherever it takes a URL.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from sorakit.errors import InvalidRequestError
from sorakit.providers.base import IMAGE_FORMATS, ReferenceImage, SubmitRequest

SizeStyle = Literal["image_size", "aspect_resolution"]
"""`image_size`: `{width, height}` (FLUX); `aspect_resolution`: `aspect_ratio` + `resolution`."""

NANO_BANANA_FRAMES: dict[str, tuple[str, str]] = {
    # 1K
    "1024x1024": ("1:1", "1K"),
    "1376x768": ("16:9", "1K"),
    "768x1376": ("9:16", "1K"),
    "1200x896": ("4:3", "1K"),
    "896x1200": ("3:4", "1K"),
    "1264x848": ("3:2", "1K"),
    "848x1264": ("2:3", "1K"),
    # 2K
    "2048x2048": ("1:1", "2K"),
    "2752x1536": ("16:9", "2K"),
    "1536x2752": ("9:16", "2K"),
    # 4K
    "4096x4096": ("1:1", "4K"),
    "5504x3072": ("16:9", "4K"),
    "3072x5504": ("9:16", "4K"),
}
"""Each `WxH` Nano Banana 2 renders, as its aspect ratio and resolution."""

FLUX_SIZES = (
    "1024x1024",
    "1024x768",
    "768x1024",
    "1024x576",
    "576x1024",
    "1536x1024",
    "1024x1536",
    "512x512",
)
"""FLUX takes any `{width, height}`; these are the presets' sizes plus the Images API's."""


@dataclass(frozen=True)
class FalImageModel:
    """One image model's input schema on fal, as far as an image `SubmitRequest` reaches it."""

    key: str
    """The catalog's `provider_model`."""
    text_endpoint: str
    edit_endpoint: str | None
    size_style: SizeStyle
    sizes: tuple[str, ...]
    formats: tuple[str, ...]
    """The `output_format` values the schema takes."""
    max_inputs: int = 0
    """How many input images the edit endpoint takes (`image_urls`)."""
    render_seconds: float = 10.0
    """Expected wall time of one image (an estimate; fal publishes none)."""
    extra: tuple[tuple[str, Any], ...] = ()
    """Fixed inputs sent with every request."""

    def endpoints(self) -> tuple[str, ...]:
        """Every endpoint id this model's jobs may run on."""
        return tuple(e for e in (self.text_endpoint, self.edit_endpoint) if e is not None)


FLUX_SCHNELL = FalImageModel(
    key="flux/schnell",
    text_endpoint="fal-ai/flux/schnell",
    edit_endpoint=None,
    size_style="image_size",
    sizes=FLUX_SIZES,
    formats=("jpeg", "png"),
    render_seconds=3.0,
    extra=(("enable_safety_checker", True),),
)
FLUX_DEV = FalImageModel(
    key="flux/dev",
    text_endpoint="fal-ai/flux/dev",
    edit_endpoint=None,
    size_style="image_size",
    sizes=FLUX_SIZES,
    formats=("jpeg", "png"),
    render_seconds=10.0,
    extra=(("enable_safety_checker", True),),
)
NANO_BANANA_2 = FalImageModel(
    key="nano-banana-2",
    text_endpoint="fal-ai/nano-banana-2",
    edit_endpoint="fal-ai/nano-banana-2/edit",
    size_style="aspect_resolution",
    sizes=tuple(NANO_BANANA_FRAMES),
    formats=("jpeg", "png", "webp"),
    max_inputs=14,
    render_seconds=15.0,
)

FAL_IMAGE_MODELS: dict[str, FalImageModel] = {
    m.key: m for m in (FLUX_SCHNELL, FLUX_DEV, NANO_BANANA_2)
}
"""Every image model the adapter can drive, by the catalog's `provider_model`."""

IMAGE_ENDPOINTS = frozenset(e for m in FAL_IMAGE_MODELS.values() for e in m.endpoints())
"""Every endpoint id of an image model: a remote id on one of these is an image job."""


def fal_image_model(key: str) -> FalImageModel:
    """The input map for a catalog `provider_model`; unknown keys are refused before sending."""
    model = FAL_IMAGE_MODELS.get(key)
    if model is None:
        raise InvalidRequestError(
            f"the fal provider has no image model {key!r}",
            param="model",
            allowed=list(FAL_IMAGE_MODELS),
        )
    return model


def check_image(model: FalImageModel, request: SubmitRequest) -> None:
    """Refuse, before anything is sent, an image request this model cannot take."""
    if request.size not in model.sizes:
        raise InvalidRequestError(
            f"the fal model {model.key!r} cannot make {request.size} images",
            param="size",
            allowed=list(model.sizes),
        )
    if request.output_format not in model.formats:
        raise InvalidRequestError(
            f"the fal model {model.key!r} writes {' or '.join(model.formats)}, "
            f"not {request.output_format}",
            param="output_format",
            allowed=list(model.formats),
        )
    if request.mask is not None:
        raise InvalidRequestError(
            f"the fal model {model.key!r} takes no mask: describe the change in the prompt",
            param="mask",
        )
    inputs = len(request.reference_images)
    if inputs and model.edit_endpoint is None:
        raise InvalidRequestError(
            f"the fal model {model.key!r} makes images from text only; it edits no images",
            param="image",
        )
    if inputs > model.max_inputs and model.edit_endpoint is not None:
        raise InvalidRequestError(
            f"the fal model {model.key!r} takes at most {model.max_inputs} input images, "
            f"not {inputs}",
            param="image",
        )


def build_image_input(model: FalImageModel, request: SubmitRequest) -> tuple[str, dict[str, Any]]:
    """The endpoint id and input JSON of one image (`num_images` 1: one image per job)."""
    check_image(model, request)
    body: dict[str, Any] = {"prompt": request.prompt, "num_images": 1}
    if model.size_style == "image_size":
        body["image_size"] = {"width": request.width, "height": request.height}
    else:
        aspect, resolution = NANO_BANANA_FRAMES[request.size]
        body["aspect_ratio"] = aspect
        body["resolution"] = resolution
    body["output_format"] = request.output_format
    endpoint = model.text_endpoint
    if request.reference_images:
        assert model.edit_endpoint is not None  # `check_image` refused it otherwise
        endpoint = model.edit_endpoint
        body["image_urls"] = [_data_uri(image) for image in request.reference_images]
    body.update(dict(model.extra))
    return endpoint, body


@dataclass(frozen=True)
class ImageOutput:
    """The image a finished request made."""

    url: str
    media_type: str
    size: int | None


def image_output(result: dict[str, Any]) -> ImageOutput | tuple[str, str | None]:
    """The first image of a result, or why there is none: `(message, fal error type)`.

    FLUX's safety checker does not fail the request: it blacks the image out and says so in
    `has_nsfw_concepts`, which is read here as fal's `content_policy_violation`.
    """
    flags = result.get("has_nsfw_concepts")
    if isinstance(flags, list) and flags and flags[0] is True:
        message = "the image was flagged by fal's safety checker (has_nsfw_concepts)"
        return message, "content_policy_violation"
    images = result.get("images")
    first = images[0] if isinstance(images, list) and images else None
    url = first.get("url") if isinstance(first, dict) else None
    if not isinstance(first, dict) or not isinstance(url, str) or not url:
        return "fal's result names no image URL", None
    media_type = first.get("content_type")
    if not isinstance(media_type, str) or media_type not in IMAGE_FORMATS.values():
        media_type = _media_type_of(url)
    size = first.get("file_size")
    return ImageOutput(url, media_type, size if isinstance(size, int) and size > 0 else None)


def _media_type_of(url: str) -> str:
    path = url.split("?")[0].lower()
    for fmt, media_type in IMAGE_FORMATS.items():
        if path.endswith(f".{fmt}") or (fmt == "jpeg" and path.endswith(".jpg")):
            return media_type
    return "image/png"


def _data_uri(image: ReferenceImage) -> str:
    import fal_client  # the catalog reads this module; the SDK loads only when sending

    return str(fal_client.encode(image.data, image.media_type))
