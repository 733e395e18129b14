"""A job's panel: live progress by server-sent events, then the video playing in the page, with
what can be done next (download, remix, extend, its last frame as a new reference)."""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from typing import Any

import anyio
from fastapi import APIRouter
from fastapi.responses import FileResponse, RedirectResponse, Response
from PIL import Image

from sorakit import media
from sorakit.catalog import Catalog
from sorakit.engine.polling import PollSchedule
from sorakit.errors import NotFoundError, ProviderError, SorakitError, TransientProviderError
from sorakit.ledger import JobRecord, JobStatus
from sorakit.studio.create_refusals import moderation_of
from sorakit.studio.events import DONE, event_stream, fragment
from sorakit.studio.render import Studio, StudioDep
from sorakit.studio.session import CSRF_FIELD

router = APIRouter()

_STATUS_WORDS = {
    JobStatus.PENDING: "Submitting",
    JobStatus.QUEUED: "Queued",
    JobStatus.FETCHING: "Rendered; fetching the video",
}


@dataclass(frozen=True)
class Progress:
    """What the panel shows of an unfinished job."""

    words: str
    percent: int
    eta: str


def progress_of(job: JobRecord, now: float | None = None) -> Progress:
    """Percent and time left, by the engine's own poll schedule."""
    now = time.time() if now is None else now
    words = _STATUS_WORDS.get(job.status, "Rendering")
    if not job.expected_render_seconds:
        return Progress(words, job.progress, "")
    schedule = PollSchedule(expected_seconds=job.expected_render_seconds, started_at=job.created_at)
    if job.progress:
        schedule.observe(job.updated_at, job.progress)  # when the ledger heard of it
    left = schedule.estimated_remaining(now)
    eta = f"about {left:.0f} s left" if left >= 1 else "almost done"
    return Progress(words, job.progress, eta)


async def own_job(studio: Studio, video_id: str) -> JobRecord:
    """A job the caller may see; another tenant's job is not found, as in the Videos API."""
    try:
        job = await studio.engine.get(video_id)
    except NotFoundError:
        job = None
    principal = studio.principal
    if job is None or job.id != video_id or principal is None or not principal.may_see(job.owner):
        raise NotFoundError(f"No video found with id '{video_id}'.", param="video_id")
    return job


@dataclass(frozen=True)
class Actions:
    """What a finished video offers beside its download."""

    remix: bool
    extend_seconds: tuple[int, ...]
    """What one extension may add; empty where the model cannot extend this video."""


def actions_of(catalog: Catalog, job: JobRecord) -> Actions:
    """Remix and extend where the model that made the video has them (as the engine checks)."""
    try:
        caps = catalog.serving(job.provider, job.provider_model, job.model).capabilities
    except NotFoundError:  # a model this server no longer serves
        return Actions(False, ())
    extendable = caps.extension and (not caps.extension_sizes or job.size in caps.extension_sizes)
    return Actions(caps.remix, caps.for_extension().seconds if extendable else ())


def finished_context(
    job: JobRecord, catalog: Catalog | None = None, csrf_token: str = ""
) -> dict[str, Any]:
    """What `_finished.html` shows: the job, a moderation block explained, the next steps."""
    return {
        "job": job,
        "moderation": moderation_of(job.error_code, job.error_message),
        "actions": actions_of(catalog, job) if catalog is not None else None,
        "csrf_field": CSRF_FIELD,
        "csrf_token": csrf_token,
    }


def job_panel(job: JobRecord, catalog: Catalog | None = None) -> tuple[str, dict[str, Any]]:
    """The template of a job's panel, and what it shows (with `catalog`, the next steps too)."""
    if job.status.finished:
        context = finished_context(job, catalog)
        del context["csrf_field"], context["csrf_token"]  # `Studio.render` adds the page's
        return "_finished.html", context
    changes = job.options.get("changes") or []
    return "_job.html", {"job": job, "changes": changes, "progress": progress_of(job)}


async def launch(studio: Studio, job: JobRecord) -> Response:
    """Submit a recorded job, have the server follow it, and show its live panel.

    A transient failure leaves it queued for the supervisor; a moderation refusal at submit is
    recorded as the job's failure and shown on its panel, as a refusal later would be.
    """
    try:
        with contextlib.suppress(TransientProviderError):
            job = await studio.engine.runner.submit(job)
    except ProviderError as exc:
        if getattr(exc, "code", None) != "moderation_blocked":
            return studio.error(exc)
        job = await studio.engine.ledger.get(job.id)
    except SorakitError as exc:
        return studio.error(exc)
    if not job.status.finished:
        studio.watcher.watch(job.id)
    if not studio.is_htmx:
        return RedirectResponse(f"/jobs/{job.id}", status_code=303)
    template, context = job_panel(job, studio.engine.catalog)
    return studio.render(template, **context)


@router.get("/jobs/{video_id}")
async def job_page(video_id: str, studio: StudioDep) -> Response:
    """A job's page: its panel, live while it renders."""
    job = await studio.owned(own_job, video_id)
    if isinstance(job, Response):
        return job
    template, context = job_panel(job, studio.engine.catalog)
    return studio.render("job.html", panel=template, **context)


@router.get("/jobs/{video_id}/events")
async def job_events(video_id: str, studio: StudioDep) -> Response:
    """`progress` events while the job runs, then one `done` event with the finished panel."""
    job = await studio.owned(own_job, video_id)
    if isinstance(job, Response):
        return job
    catalog, csrf_token = studio.engine.catalog, studio.csrf_token()

    async def panel() -> tuple[str, str]:
        job_now = await studio.engine.ledger.get(job.id)
        if job_now.status.finished:
            return DONE, fragment(
                "_finished.html", **finished_context(job_now, catalog, csrf_token)
            )
        return "progress", fragment("_progress.html", job=job_now, progress=progress_of(job_now))

    return event_stream(panel)


@router.get("/jobs/{video_id}/content")
async def job_content(video_id: str, studio: StudioDep, download: bool = False) -> Response:
    """The finished MP4, for the caller who owns it (byte ranges work, for seeking)."""
    if not studio.signed_in:
        return studio.to_sign_in()
    try:
        job, path = await completed_video(studio, video_id)
    except SorakitError as exc:
        return studio.error(exc)
    disposition = "attachment" if download else "inline"
    return FileResponse(
        path,
        media_type="video/mp4",
        headers={"content-disposition": f'{disposition}; filename="{job.id}.mp4"'},
    )


async def completed_video(studio: Studio, video_id: str) -> tuple[JobRecord, str]:
    """The caller's completed job and its MP4; anything else is not found."""
    job = await own_job(studio, video_id)
    asset = job.assets.get("video")
    if job.status is not JobStatus.COMPLETED or asset is None:
        raise NotFoundError(f"Video {job.id} is not ready.", param="video_id")
    return job, asset.path


async def last_frame_image(studio: Studio, video_id: str) -> Image.Image:
    """The exact last frame of the caller's completed video (another tenant's is not found)."""
    _, path = await completed_video(studio, video_id)
    return await anyio.to_thread.run_sync(media.last_frame, path)


@router.get("/jobs/{video_id}/last-frame")
async def job_last_frame(video_id: str, studio: StudioDep) -> Response:
    """The video's last frame as a PNG, for the caller who owns it."""
    if not studio.signed_in:
        return studio.to_sign_in()
    try:
        image = await last_frame_image(studio, video_id)
    except SorakitError as exc:
        return studio.error(exc)
    png = await anyio.to_thread.run_sync(media.encode_image, image, "PNG")
    return Response(png, media_type="image/png", headers={"cache-control": "private, max-age=3600"})
