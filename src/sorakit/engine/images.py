"""Images as jobs: plan an Images API request, record one ledger row per image, wait for them.

An image request with `n=3` becomes three jobs of kind `image` (ids `img_` + 32 hex digits),
each a row before anything is sent, each estimated and budgeted like a video, driven by the same
runner. The rows are all inserted before any is submitted, so a budget that fits two of three
images refuses the request whole, with nothing sent. Client keys (an `Idempotency-Key`, a
pipeline step) are derived per image (`key#1`, `key#2`, ...), so a retried request pays nothing
twice.

Planning checks what the real Images API checked: `n` 1 to 10, a size the model offers (`auto`
is its default), input images that decode as PNG, JPEG or WebP within the size limits, and a mask
that is a PNG with alpha of the first input's size.
"""

from __future__ import annotations

import asyncio
import functools
import io
import logging
import shutil
import uuid
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
from PIL import Image, ImageOps, UnidentifiedImageError

from sorakit.catalog.capabilities import ModelEntry
from sorakit.engine.assets import REFERENCE_IMAGE_PREFIX
from sorakit.engine.planning import (
    ReferenceInput,
    check_prompt,
    decode_data_url,
    is_data_url,
    resolve_size,
)
from sorakit.errors import InvalidRequestError, JobTimeoutError, ReferenceImageError
from sorakit.ledger import JobRecord
from sorakit.media.images import MAX_IMAGE_BYTES, MAX_IMAGE_PIXELS, encode_image
from sorakit.providers.base import IMAGE_FORMATS, ReferenceImage

if TYPE_CHECKING:
    from sorakit.engine.engine import Engine, Owner, Step

logger = logging.getLogger(__name__)

MAX_IMAGES_PER_REQUEST = 10
"""The Images API's `n` runs from 1 to 10."""
INPUT_FORMATS = {"PNG": "png", "JPEG": "jpeg", "WEBP": "webp"}
"""The input image formats an edit accepts (Pillow's names)."""
MASK_VARIANT = "mask"
"""The asset name of an edit's mask."""
OUTPUT_FORMAT_OPTION = "output_format"
"""The ledger option that holds an image job's file format."""


def new_image_id() -> str:
    """`img_` and 32 hex digits."""
    return f"img_{uuid.uuid4().hex}"


def wrong_output(model: str, makes: str) -> InvalidRequestError:
    """The refusal of a model asked for what it does not make, naming the right door."""
    if makes == "image":
        return InvalidRequestError(
            f"{model} makes images: use /v1/images/generations or `sorakit image`.",
            param="model",
        )
    return InvalidRequestError(
        f"{model} makes videos: use /v1/videos or `sorakit generate`.", param="model"
    )


def require_output(entry: ModelEntry, model: str, wanted: str) -> None:
    """Refuse a request for `wanted` output ("video" | "image") of a model that makes the other."""
    if entry.capabilities.output != wanted:
        raise wrong_output(model, entry.capabilities.output)


@dataclass
class ImagePlan:
    """An image request made concrete: the model, the size, how many, the checked inputs."""

    model: ModelEntry
    prompt: str
    size: str
    n: int
    output_format: str
    inputs: tuple[ReferenceImage, ...] = ()
    mask: ReferenceImage | None = None
    changes: list[str] = field(default_factory=list)

    @property
    def estimated_cost(self) -> float | None:
        """The list price of one image, or None where unknown."""
        return self.model.capabilities.price(self.size, 0)


def check_count(n: object) -> int:
    """`n` as an int from 1 to 10, else the Images API's refusal."""
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= MAX_IMAGES_PER_REQUEST:
        raise InvalidRequestError(
            f"Invalid value for 'n': expected an integer from 1 to {MAX_IMAGES_PER_REQUEST}, "
            f"but got {n!r}.",
            param="n",
        )
    return n


def check_output_format(value: object) -> str:
    """`png`, `jpeg` or `webp` (`jpg` is read as `jpeg`)."""
    fmt = value.lower() if isinstance(value, str) else value
    fmt = "jpeg" if fmt == "jpg" else fmt
    if fmt not in IMAGE_FORMATS:
        raise InvalidRequestError(
            f"Invalid value for 'output_format': expected 'png', 'jpeg' or 'webp', "
            f"but got {value!r}.",
            param="output_format",
            allowed=tuple(IMAGE_FORMATS),
        )
    return str(fmt)


def _input_bytes(image: ReferenceInput, param: str) -> bytes:
    if isinstance(image, Image.Image):
        return encode_image(image.convert("RGBA") if "A" in image.getbands() else image, "PNG")
    if isinstance(image, bytes):
        return image
    if isinstance(image, str) and is_data_url(image):
        return decode_data_url(image, param)
    if isinstance(image, str) and image.startswith(("http://", "https://")):
        raise ReferenceImageError(
            "Remote image URLs are not fetched; send the image itself.", param=param
        )
    path = Path(image)
    if not path.is_file():
        raise ReferenceImageError(f"No such image: {path.name}", param=param)
    return path.read_bytes()


def load_input(image: ReferenceInput, param: str, *, mask: bool = False) -> ReferenceImage:
    """Decode an input image (or a mask) and re-encode it as PNG, alpha kept; refuse anything
    that is not a sound PNG, JPEG or WebP within the limits (a mask: a PNG with alpha)."""
    raw = _input_bytes(image, param)
    if len(raw) > MAX_IMAGE_BYTES:
        raise ReferenceImageError(
            f"'{param}' is {len(raw)} bytes; the limit is {MAX_IMAGE_BYTES}.", param=param
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            decoded = Image.open(io.BytesIO(raw))
            kind = decoded.format or ""
            if decoded.width * decoded.height > MAX_IMAGE_PIXELS:
                raise ReferenceImageError(
                    f"'{param}' is {decoded.width}x{decoded.height}; the limit is "
                    f"{MAX_IMAGE_PIXELS} pixels.",
                    param=param,
                )
            decoded.load()
    except ReferenceImageError:
        raise
    except (Image.DecompressionBombWarning, Image.DecompressionBombError) as exc:
        raise ReferenceImageError(f"'{param}' is too large to decode safely.", param=param) from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise ReferenceImageError(
            f"'{param}' is not a readable image; send a PNG, JPEG or WebP file.", param=param
        ) from exc
    if kind not in INPUT_FORMATS or (mask and kind != "PNG"):
        wanted = "a PNG file" if mask else "a PNG, JPEG or WebP file"
        raise ReferenceImageError(
            f"'{param}' is {kind or 'an unknown format'}; send {wanted}.", param=param
        )
    upright = ImageOps.exif_transpose(decoded) or decoded
    has_alpha = "A" in upright.getbands() or "transparency" in upright.info
    if mask and not has_alpha:
        raise ReferenceImageError(
            f"'{param}' has no alpha channel; a mask is a PNG whose transparent area is "
            "the part to repaint.",
            param=param,
        )
    converted = upright.convert("RGBA" if has_alpha else "RGB")
    return ReferenceImage(
        data=encode_image(converted, "PNG"),
        media_type="image/png",
        width=converted.width,
        height=converted.height,
    )


def plan_image(
    entry: ModelEntry,
    prompt: str,
    *,
    model: str,
    size: str | None = None,
    n: int = 1,
    output_format: str = "png",
    images: Sequence[ReferenceInput] = (),
    mask: ReferenceInput | None = None,
    snap: bool = False,
) -> ImagePlan:
    """Check an image request against `entry` (blocking: it decodes the inputs)."""
    check_prompt(prompt)
    require_output(entry, model, "image")
    caps = entry.capabilities
    count = check_count(n)
    fmt = check_output_format(output_format)
    changes: list[str] = []
    if size is None or (isinstance(size, str) and size.strip().lower() == "auto"):
        chosen = caps.default_size
    elif not isinstance(size, str):
        raise InvalidRequestError("'size' must be a string such as '1024x1024'.", param="size")
    else:
        chosen = resolve_size(size, caps, entry.name, snap=snap, changes=changes)
    if images and not caps.image_edit:
        raise InvalidRequestError(f"{entry.name} does not edit images.", param="model")
    if len(images) > caps.reference_images:
        raise InvalidRequestError(
            f"{entry.name} takes at most {caps.reference_images} input images; "
            f"{len(images)} were sent.",
            param="image",
        )
    inputs = tuple(load_input(image, "image") for image in images)
    checked_mask = None
    if mask is not None:
        if not inputs:
            raise InvalidRequestError("A mask needs an image to edit.", param="mask")
        if not caps.mask:
            raise InvalidRequestError(f"{entry.name} does not take a mask.", param="mask")
        checked_mask = load_input(mask, "mask", mask=True)
        first = inputs[0]
        if (checked_mask.width, checked_mask.height) != (first.width, first.height):
            raise ReferenceImageError(
                f"The mask is {checked_mask.width}x{checked_mask.height}; it must be the size of "
                f"the first image, {first.width}x{first.height}.",
                param="mask",
            )
    return ImagePlan(entry, prompt, chosen, count, fmt, inputs, checked_mask, changes)


def image_client_keys(client_key: str | None, n: int) -> list[str | None]:
    """Each image's own key, derived from the request's (`key#1`, ...), or none."""
    return [f"{client_key}#{index}" if client_key else None for index in range(1, n + 1)]


async def create_images(
    engine: Engine,
    prompt: str,
    *,
    model: str = "gpt-image-1",
    size: str | None = None,
    n: int = 1,
    output_format: str = "png",
    images: Sequence[ReferenceInput] = (),
    mask: ReferenceInput | None = None,
    owner: Owner | None = None,
    step: Step | None = None,
    client_key: str | None = None,
    extra_options: Mapping[str, Any] | None = None,
    submit: bool = True,
) -> list[JobRecord]:
    """`Engine.create_image`: plan `n` images (an edit with `images`, and a `mask`), record
    their rows (all before any is sent), then submit them unless `submit=False`; a retried
    `client_key` (or `step`) returns the same jobs."""
    client_key = step.client_key if step else client_key
    keys = image_client_keys(client_key, check_count(n))
    found = [await engine.ledger.by_client_key(key) for key in keys if key]
    if keys[0] and all(found) and len(found) == len(keys):
        return [job for job in found if job is not None]  # a retried request: nothing is paid twice
    entry, aliased, bound = await engine.routes.route(model, step)
    snap = aliased  # an old app's values are fitted to the model its name is routed to
    plan = await anyio.to_thread.run_sync(
        lambda: plan_image(
            entry,
            prompt,
            model=model,
            size=size,
            n=n,
            output_format=output_format,
            images=images,
            mask=mask,
            snap=snap,
        )
    )
    changes = ([f"model {model} -> {entry.name} (alias)"] if aliased else []) + plan.changes
    attachments: dict[str, tuple[bytes | None, str]] = {
        f"{REFERENCE_IMAGE_PREFIX}{index}": (image.data, image.media_type)
        for index, image in enumerate(plan.inputs, start=1)
    }
    if plan.mask is not None:
        attachments[MASK_VARIANT] = (plan.mask.data, plan.mask.media_type)
    options: dict[str, Any] = {
        **(extra_options or {}),
        **bound,
        "changes": changes,
        OUTPUT_FORMAT_OPTION: plan.output_format,
    }
    jobs: list[JobRecord] = []
    inserted: list[JobRecord] = []
    try:
        for index, key in enumerate(keys, start=1):
            existing = await engine.ledger.by_client_key(key) if key else None
            if existing is not None:
                jobs.append(existing)
                continue
            job = await engine._insert(  # the engine's one insert path: owner, budgets, files
                new_image_id(),
                "image",
                entry,
                model,
                plan.prompt,
                0,
                plan.size,
                client_key=key,
                estimated_cost=plan.estimated_cost,
                options={**options, "image_index": index, "image_count": plan.n},
                attachments=attachments,
                step=step,
                owner=owner,
            )
            inserted.append(job)
            jobs.append(job)
    except Exception:
        await _forget(engine, inserted)
        raise
    if not submit:
        return jobs
    return [await engine.runner.submit(job) for job in jobs]


async def _forget(engine: Engine, jobs: list[JobRecord]) -> None:
    """Remove rows this request inserted before one was refused: nothing of it was sent."""
    for job in jobs:
        await engine.ledger.delete_job(job.id)
        folder = engine.settings.assets_dir / job.id
        await anyio.to_thread.run_sync(functools.partial(shutil.rmtree, folder, ignore_errors=True))


async def wait_images(
    engine: Engine, jobs: Sequence[JobRecord], *, timeout: float | None = None
) -> list[JobRecord]:
    """`Engine.wait_images`: track every job to its end, together; past `timeout`,
    `JobTimeoutError` names the jobs not finished (they stay in the ledger, and the provider
    goes on with them).

    Plain asyncio tasks, as the supervisor's: a cancelled tracker still releases its job's
    lease on the way out, so whoever tracks the job next need not wait for the lease to expire.
    """
    tasks = {job.id: asyncio.create_task(engine.wait(job.id)) for job in jobs}
    try:
        _, pending = await asyncio.wait(tasks.values(), timeout=timeout)
    finally:
        for task in tasks.values():
            task.cancel()  # a no-op on the finished ones
        await asyncio.gather(*tasks.values(), return_exceptions=True)
    if pending:
        waiting = [job_id for job_id, task in tasks.items() if task in pending]
        raise JobTimeoutError(
            ", ".join(waiting),
            timeout or 0.0,
            f"{'images' if len(waiting) > 1 else 'image'} {', '.join(waiting)} did not finish "
            f"within {timeout or 0:.0f} s; they go on and nothing is lost: "
            "GET /v1/images/{id} (or `sorakit jobs`) finds them",
        )
    return [task.result() for task in tasks.values()]
