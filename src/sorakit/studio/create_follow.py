"""What follows a finished video on its panel: remix it or extend it, each a new job with its own
live panel, admitted by the gatekeeper as `/v1/videos/{id}/remix` and `/extensions` admit them."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form
from fastapi.responses import Response

from sorakit.errors import SorakitError
from sorakit.studio.budget import owner_for
from sorakit.studio.jobs import launch, own_job
from sorakit.studio.render import StudioDep
from sorakit.studio.session import CSRF_FIELD, cookies_of

router = APIRouter()


@router.post("/jobs/{video_id}/remix")
async def remix_video(
    video_id: str,
    studio: StudioDep,
    prompt: Annotated[str, Form()] = "",
    csrf_token: Annotated[str, Form(alias=CSRF_FIELD)] = "",
) -> Response:
    """A new video from the caller's finished one, changed as the prompt says."""
    if not studio.signed_in:
        return studio.to_sign_in()
    principal = studio.principal
    assert principal is not None
    engine, gatekeeper = studio.engine, studio.gatekeeper
    try:
        cookies_of(studio.request).check_csrf(studio.session, csrf_token)
        source = await own_job(studio, video_id)  # another tenant's video is not found
        async with gatekeeper.lock(principal):
            await gatekeeper.admit(principal, source.model)
            owner = await owner_for(studio)  # under the active project, as a create is
            job = await engine.remix(source.id, prompt, submit=False, owner=owner)
    except SorakitError as exc:
        return studio.error(exc)
    return await launch(studio, job)


@router.post("/jobs/{video_id}/extend")
async def extend_video(
    video_id: str,
    studio: StudioDep,
    prompt: Annotated[str, Form()] = "",
    seconds: Annotated[str, Form()] = "",
    csrf_token: Annotated[str, Form(alias=CSRF_FIELD)] = "",
) -> Response:
    """The caller's finished video continued by `seconds`; the new video holds the whole."""
    if not studio.signed_in:
        return studio.to_sign_in()
    principal = studio.principal
    assert principal is not None
    engine, gatekeeper = studio.engine, studio.gatekeeper
    try:
        cookies_of(studio.request).check_csrf(studio.session, csrf_token)
        source = await own_job(studio, video_id)
        async with gatekeeper.lock(principal):
            await gatekeeper.admit(principal, source.model)
            owner = await owner_for(studio)
            job = await engine.extend(source.id, prompt, seconds.strip(), submit=False, owner=owner)
    except SorakitError as exc:
        return studio.error(exc)
    return await launch(studio, job)
