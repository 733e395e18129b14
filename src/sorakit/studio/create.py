"""The Create page: prompt, model, the seconds and sizes the model allows (strict or snapped),
first-frame images (uploaded, or drawn from a prompt by an image model; several make a montage,
previewed as the engine will fit it), a last frame and subject images for models that take
them, prompt enhancement, and the cost before the button.

The page's parts live beside it: `create_choices` (what a model offers), `create_form` (what the
form sends), `create_images` (montage and preview), `create_draw` (a first frame drawn from a
prompt), `create_enhance`, `create_follow` (remix and extend a finished video) and
`create_refusals` (what a moderation block says).
"""

from __future__ import annotations

import contextlib
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from sorakit.errors import SorakitError
from sorakit.media.montage import LAYOUTS
from sorakit.studio import create_draw, create_enhance, create_follow, create_images
from sorakit.studio.budget import owner_for
from sorakit.studio.create_choices import Asked, choices_for, entry_for, model_choices
from sorakit.studio.create_draw import draw_context
from sorakit.studio.create_enhance import style_choices
from sorakit.studio.create_form import posted_form
from sorakit.studio.create_images import frame_images, load_upload, reference_for
from sorakit.studio.jobs import completed_video, launch
from sorakit.studio.render import Studio, StudioDep

router = APIRouter()
for _part in (create_images, create_draw, create_enhance, create_follow):
    router.include_router(_part.router)


async def _from_last_frame(studio: Studio, video_id: str | None) -> dict[str, Any]:
    """The job whose last frame opens the new video, if the caller may use it."""
    if not video_id:
        return {"from_job": None, "from_error": None}
    try:
        job, _ = await completed_video(studio, video_id)
    except SorakitError as exc:
        return {"from_job": None, "from_error": exc.message}
    return {"from_job": job, "from_error": None}


@router.get("/")
async def create_page(studio: StudioDep, from_last_frame: str | None = None) -> Response:
    """The Create page (`?from_last_frame=<video id>`: opening on that video's last frame, with
    its model, length and size picked, so the frame goes on as it was)."""
    if not studio.signed_in:
        return studio.to_sign_in()
    source = await _from_last_frame(studio, from_last_frame)
    job = source["from_job"]
    entry = entry_for(studio, None)
    asked = Asked(strict=True)
    if job is not None:
        with contextlib.suppress(SorakitError):  # a model this server no longer serves
            entry = entry_for(studio, job.model)
        asked = Asked(seconds=str(job.seconds), size=job.size, strict=True, first_frames=1)
    choices = choices_for(entry, asked)
    return studio.render(
        "create.html",
        models=model_choices(studio),
        choices=choices,
        from_job=job.id if job is not None else None,
        from_error=source["from_error"],
        **style_choices(),
        **draw_context(studio, choices),
    )


@router.get("/create/choices")
async def create_choices(
    studio: StudioDep,
    model: str | None = None,
    seconds: str | None = None,
    size: str | None = None,
    other_seconds: str = "",
    other_size: str = "",
    strict: str = "",
    layout: str = "auto",
    reference: Annotated[list[str], Query()] = [],  # noqa: B006 (FastAPI copies defaults)
    reference_images: Annotated[list[str], Query()] = [],  # noqa: B006
    from_last_frame: str = "",
    from_image: str = "",
) -> Response:
    """The seconds and size fields, the inputs the model takes, and the estimate, for the model
    and the mode the chosen images make (the browser names each chosen file, not its bytes)."""
    if not studio.signed_in:
        return studio.to_sign_in()
    asked = Asked(
        seconds=seconds,
        size=size,
        other_seconds=other_seconds,
        other_size=other_size,
        strict=bool(strict),
        first_frames=len([r for r in reference if r])
        + int(bool(from_last_frame))
        + int(bool(from_image)),
        subjects=len([r for r in reference_images if r]),
        layout=layout if layout in LAYOUTS else "auto",
    )
    try:
        choices = choices_for(entry_for(studio, model), asked)
    except SorakitError as exc:
        return studio.error(exc)
    response = studio.render("_choices.html", choices=choices)
    response.headers["hx-trigger-after-settle"] = "choices-changed"  # the preview follows
    return response


@router.post("/create")
async def create_video(request: Request, studio: StudioDep) -> Response:
    """Create a video as `POST /v1/videos` does, then show its live panel."""
    if not studio.signed_in:
        return studio.to_sign_in()
    principal = studio.principal
    assert principal is not None
    engine, gatekeeper = studio.engine, studio.gatekeeper
    try:
        form = await posted_form(request)
        studio.check_form(form.csrf_token)
        model = form.model or entry_for(studio, None).name
        entry, aliased = engine.catalog.route(model)  # an unknown model: refused before limits
        snap = form.asked.strict
        frames = await frame_images(studio, form)
        reference = await anyio.to_thread.run_sync(  # an alias's request is snapped (the engine)
            lambda: reference_for(entry, form.asked, frames, snap=snap or aliased)
        )
        last_frame = subjects = None
        if form.last_frame is not None:
            last_frame = await anyio.to_thread.run_sync(load_upload, form.last_frame, "last_frame")
        if form.subjects:
            subjects = [
                await anyio.to_thread.run_sync(load_upload, upload, "reference_images")
                for upload in form.subjects
            ]
        enhanced = form.enhanced()
        async with gatekeeper.lock(principal):
            await gatekeeper.admit(principal, model)
            job = await engine.create(
                form.prompt,
                model=model,
                seconds=form.asked.seconds_value(),
                size=form.asked.size_value(),
                reference=reference,
                last_frame=last_frame,
                reference_images=subjects or (),
                snap=snap,  # strict: snapped to what the model allows; else refused
                fit="crop",  # a person's photo is fitted to the size, never refused for its shape
                submit=False,
                owner=await owner_for(studio),  # with the active project (budget page)
                extra_options={"enhanced": enhanced} if enhanced else None,
            )
    except SorakitError as exc:
        return studio.error(exc)
    return await launch(studio, job)
