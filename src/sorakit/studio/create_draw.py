"""The Create page's drawn first frame: a still an image model draws from a text prompt, sized to
the video's shape, then used as a first frame like an upload.

A drawing is an image job (`Engine.create_image`, kind `image`) made for the studio's owner, so
it is priced, budgeted, limited and listed like every job. The page keeps only its id, in a
hidden `from_image` field, as "use last frame as reference" keeps a video's: every use looks
the image up again (the caller's own and finished), so an id typed into the form reaches
nothing of anyone else's.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import anyio
from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, Response
from PIL import Image
from starlette.exceptions import HTTPException

from sorakit.catalog.capabilities import ModelEntry, parse_size
from sorakit.engine.images import plan_image
from sorakit.engine.planning import nearest_size, resolve_size
from sorakit.errors import (
    InvalidRequestError,
    JobTimeoutError,
    ModerationBlockedError,
    NotFoundError,
    ProviderError,
    SorakitError,
    TransientProviderError,
    job_failed,
)
from sorakit.ledger import JobRecord, JobStatus
from sorakit.media.images import load_image
from sorakit.providers.registry import is_configured
from sorakit.studio.budget import owner_for
from sorakit.studio.create_choices import Asked, Choices, entry_for
from sorakit.studio.create_form import text
from sorakit.studio.render import Studio, StudioDep

router = APIRouter()

DRAW_WAIT_SECONDS = 120.0
"""The longest the Draw button waits for its image (less where `image_wait_seconds` is less);
past it the image goes on in the background and the page says so."""
ESTIMATE_PROMPT = "the first frame"
"""What an estimate's plan is asked to draw: the price does not depend on the prompt."""
DRAWN_CHANGED = "drawn-changed"
"""The event that tells the page a drawn frame came or went (the choices and preview follow)."""
_DRAW_FIELDS = (
    "draw_prompt",
    "draw_model",
    "prompt",
    "model",
    "size",
    "other_size",
    "strict",
    "csrf_token",
)
"""What the Draw button sends of the Create form."""


@dataclass(frozen=True)
class ImageModelChoice:
    """An image model as the picker shows it."""

    name: str
    provider: str
    price: str
    credential_set: bool


@dataclass(frozen=True)
class DrawPlan:
    """What a Draw would make: the model, the image's size, the video's it is fitted to, its
    estimate."""

    model: str
    size: str
    video_size: str
    estimate: str


def _amount(usd: float) -> str:
    """Dollars to the cent, or to the tenth of a cent below one (an image may cost $0.003)."""
    return f"{usd:.2f}" if usd >= 0.01 or usd == 0 else f"{usd:.4f}".rstrip("0")


def _usd(value: float | None) -> str:
    return "price unknown" if value is None else f"${_amount(value)}"


def _price_words(entry: ModelEntry) -> str:
    prices = sorted(set(entry.capabilities.price_per_image.values()))
    if not prices:
        return "price unknown"
    low, high = _amount(prices[0]), _amount(prices[-1])
    return f"${low}/image" if low == high else f"${low}–{high}/image"


def image_models(studio: Studio) -> list[ImageModelChoice]:
    """Every image model of the catalog, with its price and whether its credential is set."""
    return [
        ImageModelChoice(
            entry.name,
            entry.provider,
            _price_words(entry),
            is_configured(entry.provider, studio.settings),
        )
        for entry in studio.engine.catalog.images()
    ]


def default_image_model(studio: Studio) -> str:
    """The settings' `image_model` as the catalog routes it, else the first image model."""
    with contextlib.suppress(SorakitError):
        entry = studio.engine.catalog.resolve(studio.settings.image_model)
        if entry.capabilities.output == "image":
            return entry.name
    models = studio.engine.catalog.images()
    return models[0].name if models else ""


def image_size_for(video_size: str, sizes: Sequence[str], default: str) -> str:
    """The image size to draw a `video_size` first frame at: the shape nearest the video's (the
    engine's `nearest_size`), and of that shape the smallest size that covers the video, so the
    fit only crops and scales down (the largest where none covers it)."""
    nearest = nearest_size(video_size, sizes)
    if nearest is None:
        return default
    width, height = parse_size(video_size)
    shape = _log_aspect(nearest)
    same = [size for size in sizes if _log_aspect(size) == shape]
    covering = [s for s in same if parse_size(s)[0] >= width and parse_size(s)[1] >= height]
    if covering:
        return min(covering, key=lambda size: math.prod(parse_size(size)))
    return max(same, key=lambda size: math.prod(parse_size(size)))


def _log_aspect(size: str) -> float:
    width, height = parse_size(size)
    return round(math.log(width / height), 3)


def _video_size(studio: Studio, video_model: str, asked: Asked) -> str:
    """The video's size as the create will plan it with a first frame (strict off, a size the
    model lacks is refused here too, before anything is drawn)."""
    video = entry_for(studio, video_model or None)
    _, aliased = studio.engine.catalog.route(video_model or video.name)
    caps = video.capabilities
    return resolve_size(
        asked.size_value(),
        caps.for_mode("image"),
        video.name,
        snap=asked.strict or aliased,  # an alias's request is snapped, as in create
        changes=[],
        whole=caps,
    )


def plan_draw(studio: Studio, image_model: str, video_model: str, asked: Asked) -> DrawPlan:
    """The image for the video's shape (its size as the engine plans a first-frame request), and
    the engine's estimate of it."""
    name = image_model or default_image_model(studio)
    if not name:
        raise InvalidRequestError("This server has no image model to draw with.", param="model")
    entry = studio.engine.catalog.resolve(name)
    video_size = _video_size(studio, video_model, asked)
    caps = entry.capabilities
    size = image_size_for(video_size, caps.sizes, caps.default_size)
    plan = plan_image(entry, ESTIMATE_PROMPT, model=name, size=size)  # refuses a video model
    return DrawPlan(name, plan.size, video_size, _usd(plan.estimated_cost))


def draw_context(studio: Studio, choices: Choices) -> dict[str, Any]:
    """What the Create page's draw controls show before anything is drawn (for the video's
    model and size as the page first offers them)."""
    model = default_image_model(studio)
    asked = Asked(size=choices.chosen_size, strict=True, first_frames=1)
    try:
        plan: DrawPlan | None = plan_draw(studio, model, choices.model, asked)
    except SorakitError:
        plan = None
    return {"image_models": image_models(studio), "draw_model": model, "draw_plan": plan}


async def own_image(studio: Studio, image_id: str) -> JobRecord:
    """An image job the caller may see; a video, or another key's image, is not found."""
    try:
        job = await studio.engine.get(image_id)
    except NotFoundError:
        job = None
    principal = studio.principal
    if (
        job is None
        or job.id != image_id
        or job.kind != "image"
        or principal is None
        or not principal.may_see(job.owner)
    ):
        raise NotFoundError(f"No image found with id '{image_id}'.", param="from_image")
    return job


async def drawn_file(studio: Studio, image_id: str) -> tuple[JobRecord, str]:
    """The caller's finished image and its file; an unfinished one is refused, saying so."""
    job = await own_image(studio, image_id)
    asset = job.assets.get("image")
    if job.status is not JobStatus.COMPLETED or asset is None:
        raise InvalidRequestError(
            f"Image {job.id} is not ready (it is {job.status.value}); draw it again.",
            param="from_image",
        )
    return job, asset.path


async def drawn_frame(studio: Studio, image_id: str) -> Image.Image:
    """The drawn image as a first frame (upright RGB), for its owner only."""
    _, path = await drawn_file(studio, image_id)
    return await anyio.to_thread.run_sync(load_image, path)


async def _finish(studio: Studio, job: JobRecord) -> JobRecord:
    """Send the drawing and wait for it (bounded); a failure is refused in the provider's words.

    Whatever stops the wait (the bound, a provider outage, a browser gone) leaves the job to
    the server's supervisor, as the Images API does, so it is tracked to its end and charged.
    """
    engine = studio.engine
    wait = min(DRAW_WAIT_SECONDS, studio.settings.image_wait_seconds)
    try:
        with contextlib.suppress(TransientProviderError):  # the supervisor retries it
            job = await engine.runner.submit(job)
        [job] = await engine.wait_images([job], timeout=wait)
    except ProviderError as exc:
        if getattr(exc, "code", None) != "moderation_blocked":
            studio.watcher.watch(job.id)
            raise
        job = await engine.ledger.get(job.id)  # refused at submit: recorded as its failure
    except JobTimeoutError:
        studio.watcher.watch(job.id)
        raise InvalidRequestError(
            f"Image {job.id} was not drawn within {wait:g} s; it goes on in the background "
            "(the Library shows it). Draw again, or go on without it."
        ) from None
    except BaseException:
        studio.watcher.watch(job.id)
        raise
    if job.status is JobStatus.COMPLETED:
        return job
    failure = job_failed(job.id, job.error_code, job.error_message)
    if isinstance(failure, ModerationBlockedError):  # the prompt, or what was drawn
        failure.message = f"The image model's moderation refused this drawing: {failure.reason}"
    raise failure


@router.get("/create/draw/estimate")
async def draw_estimate(
    studio: StudioDep,
    draw_model: str = "",
    model: str = "",
    size: str = "",
    other_size: str = "",
    strict: str = "",
) -> Response:
    """The size and the estimate of a drawing for the image model and the video's shape."""
    if not studio.signed_in:
        return studio.to_sign_in()
    asked = Asked(size=size or None, other_size=other_size, strict=bool(strict), first_frames=1)
    try:
        plan = plan_draw(studio, draw_model, model, asked)
    except SorakitError as exc:
        return studio.render("_create_draw_estimate.html", draw_plan=None, refusal=exc.message)
    return studio.render("_create_draw_estimate.html", draw_plan=plan, refusal=None)


@router.post("/create/draw")
async def draw(request: Request, studio: StudioDep) -> Response:
    """Draw the first frame: an image job on the caller's key, budget and limits, waited for,
    answered with the image, its cost and the hidden `from_image` field."""
    if not studio.signed_in:
        return studio.to_sign_in()
    principal = studio.principal
    assert principal is not None
    engine, gatekeeper = studio.engine, studio.gatekeeper
    try:
        try:
            async with request.form() as form:
                fields = {name: text(form, name) for name in _DRAW_FIELDS}
        except HTTPException as exc:  # a body that is no form Starlette can parse
            raise InvalidRequestError(f"The form could not be read: {exc.detail}") from None
        studio.check_form(fields["csrf_token"])
        prompt = fields["draw_prompt"].strip() or fields["prompt"].strip()
        if not prompt:
            raise InvalidRequestError(
                "Write what to draw (or the video's prompt) first.", param="draw_prompt"
            )
        asked = Asked(
            size=fields["size"] or None,
            other_size=fields["other_size"],
            strict=bool(fields["strict"]),
            first_frames=1,
        )
        plan = plan_draw(studio, fields["draw_model"], fields["model"], asked)
        async with gatekeeper.lock(principal):
            await gatekeeper.admit(principal, plan.model)
            [job] = await engine.create_image(
                prompt,
                model=plan.model,
                size=plan.size,
                owner=await owner_for(studio),  # with the active project (budget page)
                submit=False,
            )
        job = await _finish(studio, job)
    except SorakitError as exc:
        return studio.error(exc)
    cost = job.cost if job.cost is not None else job.estimated_cost
    response = studio.render("_create_drawn.html", image=job, cost=_usd(cost), plan=plan)
    response.headers["hx-trigger-after-settle"] = DRAWN_CHANGED
    return response


@router.get("/create/drawn/{image_id}")
async def drawn_content(image_id: str, studio: StudioDep) -> Response:
    """A drawn image's file, for the caller who owns it."""
    if not studio.signed_in:
        return studio.to_sign_in()
    try:
        job, path = await drawn_file(studio, image_id)
    except SorakitError as exc:
        return studio.error(exc)
    asset = job.assets["image"]
    return FileResponse(
        path,
        media_type=asset.media_type or "application/octet-stream",
        headers={"cache-control": "private, max-age=3600"},
    )
