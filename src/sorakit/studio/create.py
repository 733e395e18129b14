"""The Create page: prompt, model, seconds and size the model allows, a reference, the cost."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, File, Form, Query, UploadFile
from fastapi.responses import RedirectResponse, Response

from sorakit.catalog.capabilities import ModelCapabilities, ModelEntry, request_mode
from sorakit.engine.planning import resolve_size
from sorakit.errors import InvalidRequestError, SorakitError, TransientProviderError
from sorakit.providers.registry import is_configured
from sorakit.studio.jobs import job_panel
from sorakit.studio.render import Studio, StudioDep
from sorakit.studio.session import CSRF_FIELD, cookies_of

router = APIRouter()

SIZE_WORDS = ("landscape", "portrait", "square", "16:9", "9:16")
"""Shapes offered beside a model's sizes; the engine resolves them to the model's nearest size."""


@dataclass(frozen=True)
class ModelChoice:
    """A model as the picker shows it."""

    name: str
    provider: str
    price: str
    credential_set: bool


@dataclass(frozen=True)
class Choices:
    """The seconds and sizes a model allows for a request, what is chosen, and its cost."""

    model: str
    seconds: tuple[int, ...]
    sizes: tuple[str, ...]
    shapes: tuple[tuple[str, str], ...]
    """Size words the model can honour, each with the size it means."""
    chosen_seconds: int
    chosen_size: str
    estimate: str


def _price(caps: ModelCapabilities) -> str:
    rates = sorted(set(caps.price_per_second.values()))
    clips = sorted(set(caps.price_per_clip.values()))
    if rates:
        low, high = rates[0], rates[-1]
        return f"${low:.2f}/s" if low == high else f"${low:.2f}–{high:.2f}/s"
    if clips:
        return f"${clips[0]:.2f}/clip" if len(clips) == 1 else f"${clips[0]:.2f}+/clip"
    return "price unknown"


def _models(studio: Studio) -> list[ModelChoice]:
    return [
        ModelChoice(
            entry.name,
            entry.provider,
            _price(entry.capabilities),
            is_configured(entry.provider, studio.settings),
        )
        for entry in studio.engine.catalog
    ]


def _strict_size(entry: ModelEntry, caps: ModelCapabilities, size: str) -> str:
    """The `WxH` the engine plans for `size` in the server's strict mode, or its refusal."""
    return resolve_size(size, caps, entry.name, snap=False, changes=[], whole=entry.capabilities)


def _choices(
    entry: ModelEntry, *, with_reference: bool, seconds: str | None, size: str | None
) -> Choices:
    """What the model allows in this request's mode, and the estimate the engine would record."""
    caps = entry.capabilities.for_mode(request_mode(first_frame=with_reference))
    words = []
    for word in SIZE_WORDS:  # only the shapes this model has a size for
        with contextlib.suppress(InvalidRequestError):
            words.append((word, _strict_size(entry, caps, word)))
    chosen_seconds = int(seconds) if seconds and seconds.isdigit() else caps.default_seconds
    if chosen_seconds not in caps.seconds:
        chosen_seconds = caps.default_seconds
    chosen_size = (size or "").strip()
    if chosen_size not in caps.sizes and chosen_size not in dict(words):
        chosen_size = caps.default_size  # the last model's size, which this one lacks
    # The engine's own pricing: a job's estimate is `price` of its planned size and seconds.
    price = caps.price(_strict_size(entry, caps, chosen_size), chosen_seconds)
    estimate = "price unknown" if price is None else f"${price:.2f}"
    return Choices(
        entry.name, caps.seconds, caps.sizes, tuple(words), chosen_seconds, chosen_size, estimate
    )


def _entry(studio: Studio, model: str | None) -> ModelEntry:
    names = [entry.name for entry in studio.engine.catalog]
    return studio.engine.catalog.resolve(model or ("sora-2" if "sora-2" in names else names[0]))


@router.get("/")
async def create_page(studio: StudioDep) -> Response:
    """The Create page."""
    if not studio.signed_in:
        return studio.to_sign_in()
    entry = _entry(studio, None)
    return studio.render(
        "create.html",
        models=_models(studio),
        choices=_choices(entry, with_reference=False, seconds=None, size=None),
    )


@router.get("/create/choices")
async def create_choices(
    studio: StudioDep,
    model: str | None = None,
    seconds: str | None = None,
    size: str | None = None,
    reference: Annotated[str | None, Query()] = None,
) -> Response:
    """The seconds and size fields and the estimate, for the model and mode picked."""
    if not studio.signed_in:
        return studio.to_sign_in()
    try:
        entry = _entry(studio, model)
    except SorakitError as exc:
        return studio.error(exc)
    choices = _choices(entry, with_reference=bool(reference), seconds=seconds, size=size)
    return studio.render("_choices.html", choices=choices)


@router.post("/create")
async def create_video(
    studio: StudioDep,
    prompt: Annotated[str, Form()] = "",
    model: Annotated[str, Form()] = "",
    seconds: Annotated[str, Form()] = "",
    size: Annotated[str, Form()] = "",
    reference: Annotated[UploadFile | None, File()] = None,
    csrf_token: Annotated[str, Form(alias=CSRF_FIELD)] = "",
) -> Response:
    """Create a video as `POST /v1/videos` does, then show its job panel."""
    if not studio.signed_in:
        return studio.to_sign_in()
    principal = studio.principal
    assert principal is not None
    engine, gatekeeper = studio.engine, studio.gatekeeper
    try:
        cookies_of(studio.request).check_csrf(studio.session, csrf_token)
        image = await reference.read() if reference is not None else b""
        model = model or _entry(studio, None).name
        engine.catalog.resolve(model)  # an unknown model is refused before any limit is spent
        async with gatekeeper.lock(principal):
            await gatekeeper.admit(principal, model)
            job = await engine.create(
                prompt,
                model=model,
                seconds=seconds or None,
                size=size.strip() or None,
                reference=image or None,
                snap=False,
                fit="crop",  # a person's photo is fitted to the size, never refused for its shape
                submit=False,
                owner=principal.owner,
            )
        with contextlib.suppress(TransientProviderError):  # left queued for the supervisor
            job = await engine.runner.submit(job)
    except SorakitError as exc:
        return studio.error(exc)
    studio.watcher.watch(job.id)
    if not studio.is_htmx:
        return RedirectResponse(f"/jobs/{job.id}", status_code=303)
    template, context = job_panel(job)
    return studio.render(template, **context)
