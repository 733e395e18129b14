"""The Long video page: a prompt and a length, or a storyboard, planned before rendering.

"Plan" shows the segments `LongVideos.plan` would render (the planner behind `sorakit long
--plan-only`) as an editable table with the estimate; "Render" writes the edited plan inside the
server's home, where `LongRequest.plan_file` expects a saved plan, and starts the pipeline for the
signed-in key, whose run page follows it. The storyboard tab lives in `long_video_storyboard`.
"""

from __future__ import annotations

from dataclasses import replace
from functools import partial
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, File, Form, Query, UploadFile
from fastapi.responses import Response

from sorakit.errors import SorakitError
from sorakit.media.images import load_image
from sorakit.pipelines.long import LongVideos
from sorakit.studio import long_video_storyboard, runs
from sorakit.studio.create_choices import Asked, choices_for, entry_for, model_choices
from sorakit.studio.long_video_plan import (
    ENHANCEMENTS,
    MODES,
    PLANNERS,
    LongForm,
    LongFormDep,
    PlanFormDep,
    edited_plan,
    enhanced_for_planning,
    long_request,
)
from sorakit.studio.long_video_start import (
    admitted,
    discard,
    owner_fields,
    upload_folder,
    write_upload,
)
from sorakit.studio.render import Studio, StudioDep
from sorakit.studio.session import CSRF_FIELD

router = APIRouter()
router.include_router(long_video_storyboard.router)


def _price(value: float | None) -> str:
    return "price unknown" if value is None else f"${value:.2f}"


def _choices_context(studio: Studio, form: LongForm, with_reference: bool) -> dict[str, Any]:
    """The size picker (the Create page's, for the model and mode) and the whole estimate."""
    entry = entry_for(studio, form.model or None)
    image_mode = with_reference or form.mode == "keyframes"  # the first frames are images
    choices = choices_for(entry, Asked(size=form.size, first_frames=int(image_mode)))
    context: dict[str, Any] = {"choices": choices, "lengths": None, "refusal": None}
    try:
        request = long_request(replace(form, model=entry.name), entry.name)
        longs = LongVideos(studio.engine)
        context["lengths"] = longs.lengths(request)[1]
        context["estimate"] = _price(longs.estimate(request))
    except SorakitError as exc:  # an impossible total is said beside the fields, before Plan
        context["estimate"], context["refusal"] = "", exc.message
    return context


def _page(studio: Studio, form: LongForm, status: int = 200, **extra: Any) -> Response:
    try:
        context = _choices_context(studio, form, with_reference=False)
    except SorakitError:  # an unknown model: the refusal is in `extra`; show the default's
        form = replace(form, model="")
        context = _choices_context(studio, form, with_reference=False)
    return studio.render(
        "long.html",
        status,
        tab="prompt",
        models=model_choices(studio),
        modes=MODES,
        planners=PLANNERS,
        enhancements=ENHANCEMENTS,
        form=form,
        chosen_model=context["choices"].model,
        **context,
        **extra,
    )


@router.get("/long")
async def long_page(studio: StudioDep) -> Response:
    """The Long video page, on its prompt-and-length tab."""
    if not studio.signed_in:
        return studio.to_sign_in()
    return _page(studio, LongForm(model=entry_for(studio, None).name))


@router.get("/long/choices")
async def long_choices(
    studio: StudioDep,
    model: str = "",
    seconds: str = "",
    segments: str = "",
    size: str = "",
    mode: str = "chain",
    reference: Annotated[str | None, Query()] = None,
) -> Response:
    """The size field and the estimate, for the model, length and mode picked."""
    if not studio.signed_in:
        return studio.to_sign_in()
    form = LongForm(seconds=seconds, segments=segments, model=model, size=size, mode=mode)
    try:
        context = _choices_context(studio, form, with_reference=bool(reference))
    except SorakitError as exc:  # an unknown model
        return studio.error(exc)
    return studio.render("_long_choices.html", **context)


@router.post("/long/plan")
async def long_plan(
    studio: StudioDep,
    form: LongFormDep,
    csrf_token: Annotated[str, Form(alias=CSRF_FIELD)] = "",
) -> Response:
    """The plan the pipeline would render, as an editable table with its estimate."""
    if not studio.signed_in:
        return studio.to_sign_in()
    form = replace(form, model=form.model or entry_for(studio, None).name)
    longs = LongVideos(studio.engine)
    try:
        studio.check_form(csrf_token)
        request = long_request(form, form.model)
        estimate = longs.estimate(request)  # refuses an impossible total before planning
        request, enhancement_note = await enhanced_for_planning(request, studio.settings)
        plan = await longs.plan(request)
    except SorakitError as exc:
        return studio.error_in_page(partial(_page, studio, form), exc)
    if enhancement_note:
        plan.notes.append(enhancement_note)
    return studio.in_page(
        partial(_page, studio, form),
        "_long_plan.html",
        plan=plan,
        plan_estimate=_price(estimate),
    )


async def _checked_image(upload: UploadFile | None) -> bytes | None:
    """The first frame's bytes, checked as the engine loads images (None: none sent)."""
    data = await upload.read() if upload is not None else b""
    if not data:
        return None
    await anyio.to_thread.run_sync(lambda: load_image(data))
    return data


@router.post("/long/render")
async def long_render(
    studio: StudioDep,
    form: LongFormDep,
    plan: PlanFormDep,
    reference: Annotated[UploadFile | None, File()] = None,
    csrf_token: Annotated[str, Form(alias=CSRF_FIELD)] = "",
) -> Response:
    """Start the long video with the (edited) plan, then follow it on its run page."""
    if not studio.signed_in:
        return studio.to_sign_in()
    form = replace(form, model=form.model or entry_for(studio, None).name)
    longs = LongVideos(studio.engine)
    folder = upload_folder(studio, "long")  # this request's plan and first frame
    try:
        studio.check_form(csrf_token)
        request = long_request(form, form.model)
        _, lengths = longs.lengths(request)
        edited = edited_plan(plan, lengths) if plan.given else None
        image = await _checked_image(reference)
        fields: dict[str, Any] = await owner_fields(studio)  # under the active project
        if edited is not None:
            path = await write_upload(folder, "plan.json", edited.to_json().encode())
            fields["plan_file"] = str(path)
        if image is not None:
            fields["reference"] = str(await write_upload(folder, "reference.img", image))
        request = replace(request, **fields)
        async with admitted(studio, request.model) as parallel:  # keyframes: the key's slots
            pipeline = await longs.start(replace(request, parallel=parallel))
    except SorakitError as exc:
        await discard(folder)
        return studio.error_in_page(partial(_page, studio, form), exc)
    return runs.started(studio, pipeline)
