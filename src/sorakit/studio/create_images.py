"""Reference images on the Create page: several combined into one by the media layer's montage,
and a preview of exactly the first frame the engine will send.

The montage's tiles are cut from the size the video will have, so the combined image already
has the video's shape and the engine's crop takes nothing away from it; with no size chosen the
tiles keep the first image's size and the engine picks the size nearest that shape. The preview
is the engine's own plan of the request (`plan_generate`), whose fitted reference is the frame.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass

import anyio
from fastapi import APIRouter, Request
from fastapi.responses import Response
from PIL import Image, UnidentifiedImageError

from sorakit.catalog.capabilities import ModelEntry, parse_size
from sorakit.engine.planning import plan_generate, resolve_size
from sorakit.errors import ReferenceImageError, SorakitError
from sorakit.media.images import load_image
from sorakit.media.montage import grid_for, montage
from sorakit.studio.create_choices import Asked, entry_for
from sorakit.studio.create_draw import drawn_frame
from sorakit.studio.create_form import CreateForm, Upload, posted_form
from sorakit.studio.jobs import last_frame_image
from sorakit.studio.render import Studio, StudioDep

router = APIRouter()

PREVIEW_PROMPT = "the first frame"
"""What the preview's plan is asked to draw: the frame does not depend on the prompt."""


@dataclass(frozen=True)
class FirstFrame:
    """The frame the engine will send, as a PNG, and what planning changed to make it."""

    png: bytes
    width: int
    height: int
    changes: tuple[str, ...]
    images: int

    @property
    def data_url(self) -> str:
        return "data:image/png;base64," + base64.b64encode(self.png).decode("ascii")


def load_upload(upload: Upload, param: str) -> Image.Image:
    """An upload as an upright RGB image, or a refusal that names the file."""
    try:
        return load_image(upload.data)
    except ReferenceImageError as exc:
        if isinstance(exc.__cause__, UnidentifiedImageError):
            message = (
                f"“{upload.name}” is not an image the studio can read; "
                "upload a PNG, JPEG or WebP picture."
            )
        else:
            message = f"“{upload.name}”: {exc.message}"
        raise ReferenceImageError(message, param=param) from None


def load_uploads(uploads: Sequence[Upload], param: str) -> list[Image.Image]:
    return [load_upload(upload, param) for upload in uploads]


def _video_size(entry: ModelEntry, asked: Asked, snap: bool) -> tuple[int, int] | None:
    """The size a request with a first frame gets (None: the reference's shape will pick it)."""
    value = asked.size_value()
    if value is None:
        return None
    caps = entry.capabilities.for_mode("image")
    planned = resolve_size(value, caps, entry.name, snap=snap, changes=[], whole=entry.capabilities)
    return parse_size(planned)


def combine(
    images: Sequence[Image.Image], layout: str, video_size: tuple[int, int] | None
) -> Image.Image | None:
    """One first frame from the chosen images: itself, or their montage in `layout`."""
    if not images:
        return None
    if len(images) == 1:
        return images[0]
    tile = None
    if video_size is not None:
        columns, rows = grid_for(layout, len(images))
        tile = (max(1, video_size[0] // columns), max(1, video_size[1] // rows))
    return montage(images, layout, tile_size=tile)


def reference_for(
    entry: ModelEntry, asked: Asked, images: Sequence[Image.Image], *, snap: bool
) -> Image.Image | None:
    """The first-frame image a create sends: the montage of `images`, cut for the video's size."""
    if len(images) <= 1:
        return combine(images, asked.layout, None)
    return combine(images, asked.layout, _video_size(entry, asked, snap))


async def frame_images(studio: Studio, form: CreateForm) -> list[Image.Image]:
    """The first-frame images in order: the last frame of the job named, the drawn image (each
    its owner's), then the uploads."""
    images = []
    if form.from_last_frame:
        images.append(await last_frame_image(studio, form.from_last_frame))
    if form.from_image:
        images.append(await drawn_frame(studio, form.from_image))
    uploaded = await anyio.to_thread.run_sync(load_uploads, form.references, "reference")
    return images + uploaded


def plan_frame(
    entry: ModelEntry, asked: Asked, images: Sequence[Image.Image], *, snap: bool
) -> FirstFrame | None:
    """The first frame as the engine plans it: combined, then fitted (crop) to the video's size."""
    reference = reference_for(entry, asked, images, snap=snap)
    if reference is None:
        return None
    plan = plan_generate(
        entry, PREVIEW_PROMPT, size=asked.size_value(), reference=reference, snap=snap, fit="crop"
    )
    assert plan.reference is not None
    return FirstFrame(
        plan.reference.data,
        plan.reference.width,
        plan.reference.height,
        tuple(plan.changes),
        len(images),
    )


@router.post("/create/preview")
async def create_preview(request: Request, studio: StudioDep) -> Response:
    """The first frame the engine would use for the form as it stands."""
    if not studio.signed_in:
        return studio.to_sign_in()
    try:
        form = await posted_form(request)
        studio.check_form(form.csrf_token)
        entry = entry_for(studio, form.model or None)
        _, aliased = studio.engine.catalog.route(form.model or entry.name)
        snap = form.asked.strict or aliased  # an alias's request is always snapped, as in create
        images = await frame_images(studio, form)
        frame = await anyio.to_thread.run_sync(
            lambda: plan_frame(entry, form.asked, images, snap=snap)
        )
    except SorakitError as exc:
        return studio.error(exc)
    return studio.render("_create_preview.html", frame=frame)
