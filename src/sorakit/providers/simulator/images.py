"""The simulator's images: plan an image job and paint it with Pillow.

A generated image is the simulator's backdrop (seeded by the prompt, so one prompt gives one
picture) with the prompt written on it, at the asked size and format. An edit starts from the
first input image, fitted (cropped) to the size; with a mask, only the mask's transparent area is
repainted, as the Images API's edits do, so what the mask keeps comes back pixel for pixel.
"""

from __future__ import annotations

import io
import os
from dataclasses import replace
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageOps

from sorakit.errors import InvalidRequestError, ReferenceImageError
from sorakit.providers.base import IMAGE_FORMATS, ReferenceImage, SubmitRequest
from sorakit.providers.simulator.paint import backdrop_image, wrap
from sorakit.providers.simulator.state import JobRecord, SimulatorStore

IMAGE_RENDER_SHARE = 0.25
"""An image takes this share of the configured render time (images are quicker than videos)."""
MAX_INPUTS = 16
PIL_FORMATS = {"png": "PNG", "jpeg": "JPEG", "webp": "WEBP"}


def plan_image(record: JobRecord, request: SubmitRequest, store: SimulatorStore) -> JobRecord:
    """The image job's record (`record` is the common base): inputs stored, values checked."""
    if request.output_format not in IMAGE_FORMATS:
        raise InvalidRequestError(
            f"output_format must be png, jpeg or webp, got {request.output_format!r}",
            param="output_format",
        )
    if request.width % 2 or request.height % 2:  # the backdrop is drawn in 4:2:0
        raise InvalidRequestError(f"size must have even sides, got {request.size}", param="size")
    if len(request.reference_images) > MAX_INPUTS:
        raise InvalidRequestError(f"at most {MAX_INPUTS} input images", param="image")
    reference = mask = None
    if request.reference_images:
        first = request.reference_images[0]
        reference = store.save_reference(record.id, _png(first, "image"))
        if request.mask is not None:
            if (request.mask.width, request.mask.height) != (first.width, first.height):
                raise InvalidRequestError(
                    "the mask must be the size of the first image", param="mask"
                )
            mask = f"{record.id}.mask.png"
            store.reference_path(mask).write_bytes(_png(request.mask, "mask"))
    elif request.mask is not None:
        raise InvalidRequestError("a mask needs an image to edit", param="mask")
    return replace(
        record,
        render_seconds=record.render_seconds * IMAGE_RENDER_SHARE,
        reference=reference,
        mask=mask,
        output_format=request.output_format,
    )


def _png(image: ReferenceImage, param: str) -> bytes:
    """The input as PNG bytes (alpha kept), or the refusal of an unreadable one."""
    try:
        with Image.open(io.BytesIO(image.data)) as opened:
            opened.load()
            converted = opened.convert("RGBA")
    except Exception as exc:  # Pillow raises many kinds for broken files
        raise ReferenceImageError(f"the {param} cannot be read as an image", param=param) from exc
    out = io.BytesIO()
    converted.save(out, format="PNG", compress_level=1)
    return out.getvalue()


def image_path(store: SimulatorStore, record: JobRecord) -> Path:
    """Where a job's rendered image lives (it may not exist yet)."""
    extension = "jpg" if record.output_format == "jpeg" else record.output_format
    return store.media / record.id / f"image.{extension}"


def render_image_file(record: JobRecord, store: SimulatorStore) -> Path | None:
    """Paint the job's image once, under its render lock (blocking); None if it was deleted."""
    path = image_path(store, record)
    with store.render_lock(record.id):
        current = store.load_job(record.id)
        if current is None or current.deleted:
            return None
        if not path.is_file():
            path.parent.mkdir(parents=True, exist_ok=True)
            data = encode(paint_image(record, store), record.output_format)
            temporary = path.with_name(f".{path.name}.part")
            temporary.write_bytes(data)
            os.replace(temporary, path)
    return path


def paint_image(record: JobRecord, store: SimulatorStore) -> Image.Image:
    """The job's picture: a fresh painting, or its input repainted where the mask is clear."""
    size = (record.width, record.height)
    painting = backdrop_image(record.width, record.height, np.random.default_rng(record.seed))
    _caption(painting, record.prompt)
    if record.reference is None:
        return painting
    with Image.open(store.reference_path(record.reference)) as opened:
        base = ImageOps.fit(opened.convert("RGB"), size, Image.Resampling.LANCZOS)
    if record.mask is None:  # an edit without a mask: the input, restyled, captioned
        edited = Image.blend(base, painting, 0.35)
        _caption(edited, record.prompt)
        return edited
    with Image.open(store.reference_path(record.mask)) as opened:
        alpha = ImageOps.fit(opened.convert("RGBA"), size, Image.Resampling.NEAREST).getchannel("A")
    keep = alpha.point(lambda value: 255 if value > 0 else 0)
    return Image.composite(base, painting, keep)


def _caption(image: Image.Image, prompt: str) -> None:
    """Write the prompt on the image, white on a dark box, across its lower part."""
    font_size = max(12, min(image.width, image.height) // 24)
    lines = wrap(prompt, font_size, int(image.width * 0.9), 4)
    draw = ImageDraw.Draw(image)
    line_height = int(font_size * 1.25)
    top = image.height - line_height * len(lines) - font_size * 2
    pad = font_size // 2
    draw.rectangle(
        (int(image.width * 0.04), top - pad, int(image.width * 0.96), image.height - font_size),
        fill=(24, 24, 24),
    )
    for index, line in enumerate(lines):
        draw.text(
            (int(image.width * 0.05), top + index * line_height),
            line,
            font_size=font_size,
            fill=(255, 255, 255),
        )


def encode(image: Image.Image, output_format: str) -> bytes:
    """The image in its output format."""
    out = io.BytesIO()
    pil_format = PIL_FORMATS[output_format]
    options = {"quality": 90} if pil_format in ("JPEG", "WEBP") else {"compress_level": 1}
    image.convert("RGB").save(out, format=pil_format, **options)
    return out.getvalue()
