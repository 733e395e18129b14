"""What follows a finished video on its panel: remix it or extend it, each a new job with its own
live panel, admitted by the gatekeeper as `/v1/videos/{id}/remix` and `/extensions` admit them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import APIRouter, Form
from fastapi.responses import Response

from sorakit.engine import Owner
from sorakit.errors import SorakitError
from sorakit.ledger import JobRecord
from sorakit.studio.budget import owner_for
from sorakit.studio.jobs import launch, own_job
from sorakit.studio.render import Studio, StudioDep
from sorakit.studio.session import CSRF_FIELD

router = APIRouter()


FollowUp = Callable[[JobRecord, Owner | None], Awaitable[JobRecord]]
"""Records the new job from the caller's finished source, for its owner (not yet submitted)."""


async def _follow(studio: Studio, video_id: str, csrf_token: str, make: FollowUp) -> Response:
    """Admit the caller for the source's model, record the new job under the active project (as
    a create is), then show its live panel; another tenant's video is not found."""
    if (refusal := studio.form_refusal(csrf_token)) is not None:
        return refusal
    principal, gatekeeper = studio.principal, studio.gatekeeper
    assert principal is not None
    try:
        source = await own_job(studio, video_id)
        async with gatekeeper.lock(principal):
            await gatekeeper.admit(principal, source.model)
            job = await make(source, await owner_for(studio))
    except SorakitError as exc:
        return studio.error(exc)
    return await launch(studio, job)


@router.post("/jobs/{video_id}/remix")
async def remix_video(
    video_id: str,
    studio: StudioDep,
    prompt: Annotated[str, Form()] = "",
    csrf_token: Annotated[str, Form(alias=CSRF_FIELD)] = "",
) -> Response:
    """A new video from the caller's finished one, changed as the prompt says."""
    remix = studio.engine.remix
    return await _follow(
        studio,
        video_id,
        csrf_token,
        lambda source, owner: remix(source.id, prompt, submit=False, owner=owner),
    )


@router.post("/jobs/{video_id}/extend")
async def extend_video(
    video_id: str,
    studio: StudioDep,
    prompt: Annotated[str, Form()] = "",
    seconds: Annotated[str, Form()] = "",
    csrf_token: Annotated[str, Form(alias=CSRF_FIELD)] = "",
) -> Response:
    """The caller's finished video continued by `seconds`; the new video holds the whole."""
    extend = studio.engine.extend
    return await _follow(
        studio,
        video_id,
        csrf_token,
        lambda source, owner: extend(source.id, prompt, seconds.strip(), submit=False, owner=owner),
    )
