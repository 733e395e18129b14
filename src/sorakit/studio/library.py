"""The Library page: the ledger as a gallery.

A signed-in tenant sees its own jobs, newest first, a page at a time (`library_query`), each a
card with its thumbnail and a spritesheet that scrubs under the pointer (`static/library.js`);
the admin key and the open studio see every job. A job's page shows what was asked and what
happened (`library_details`). Deleting goes through `Engine.delete`, as `DELETE /v1/videos/{id}`
and `sorakit jobs delete --remote-too` do; a selection exports as a zip (`library_export`).
Another tenant's job is not found on every route, as in the Videos API.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form
from fastapi.responses import FileResponse, RedirectResponse, Response

from sorakit.errors import InvalidRequestError, NotFoundError, SorakitError
from sorakit.ledger import JobStatus
from sorakit.studio.jobs import own_job
from sorakit.studio.library_details import details_of
from sorakit.studio.library_export import MAX_SELECTION, zip_response
from sorakit.studio.library_query import SPRITE_GRID, STATUSES, Filters, fetch_page
from sorakit.studio.render import Studio, StudioDep
from sorakit.studio.session import CSRF_FIELD

router = APIRouter()

GALLERY_ID = "gallery"
"""The element the filter form and the page links swap (htmx sends it as `HX-Target`)."""
IMAGE_CACHE = "private, max-age=86400"
"""A finished job's images never change, and only their owner may read them."""
_IMAGE_TYPES = {"thumbnail": "image/webp", "spritesheet": "image/jpeg"}


def _owner(studio: Studio) -> str | None:
    """Whose jobs the caller lists: its own, or everyone's for the admin and the open studio."""
    principal = studio.principal
    assert principal is not None
    return None if principal.sees_all or principal.key is None else principal.key.id


def _refusal(studio: Studio, exc: SorakitError) -> Response:
    """A refusal: the fragment for htmx, else a page around it (a plain form post or a link)."""
    fragment = studio.error(exc)
    if studio.is_htmx:
        return fragment
    allowed = getattr(exc, "allowed", None)
    return studio.render(
        "library_error.html", fragment.status_code, message=exc.message, allowed=allowed
    )


def _wants_gallery(studio: Studio) -> bool:
    """Whether htmx asks for the gallery alone (not a history restore, which needs the page)."""
    headers = studio.request.headers
    return (
        studio.is_htmx
        and headers.get("hx-target") == GALLERY_ID
        and headers.get("hx-history-restore-request") != "true"
    )


@router.get("/library")
async def library_page(
    studio: StudioDep,
    model: str | None = None,
    status: str | None = None,
    pipeline: str | None = None,
    date_from: str | None = None,
    date_to: str | None = None,
    q: str | None = None,
    after: str | None = None,
    before: str | None = None,
) -> Response:
    """The gallery, filtered, one page at a time (`after`: older than; `before`: newer than)."""
    if not studio.signed_in:
        return studio.to_sign_in()
    given = {"model": model, "status": status, "pipeline": pipeline}
    given |= {"date_from": date_from, "date_to": date_to, "q": q}
    context: dict[str, Any] = {
        "statuses": STATUSES,
        "models": [entry.name for entry in studio.engine.catalog],
        "sprite": SPRITE_GRID,
        "sees_all": _owner(studio) is None,
    }
    try:
        filters = Filters.parse(**given)
        page = await fetch_page(
            studio.engine.ledger, filters, owner=_owner(studio), after=after, before=before
        )
    except SorakitError as exc:
        if _wants_gallery(studio):
            return studio.error(exc)
        raw = Filters(**{name: (value or "") for name, value in given.items()})
        allowed = getattr(exc, "allowed", None)
        status_code = studio.error(exc).status_code
        error = {"message": exc.message, "allowed": allowed}
        return studio.render(
            "library.html", status_code, filters=raw, page=None, error=error, **context
        )
    template = "_library_gallery.html" if _wants_gallery(studio) else "library.html"
    response = studio.render(template, filters=filters, page=page, error=None, **context)
    response.headers["vary"] = "HX-Request, HX-Target"
    return response


@router.get("/library/{video_id}")
async def library_job(video_id: str, studio: StudioDep) -> Response:
    """A job's details: prompt before and after, adjustments, timings, cost, files."""
    if not studio.signed_in:
        return studio.to_sign_in()
    try:
        job = await own_job(studio, video_id)
        events = await studio.engine.ledger.events(job.id)
    except SorakitError as exc:
        return _refusal(studio, exc)
    return studio.render(
        "library_job.html", details=details_of(job, events), sees_all=_owner(studio) is None
    )


async def _image(studio: Studio, video_id: str, variant: str) -> Response:
    if not studio.signed_in:
        return studio.to_sign_in()
    try:
        job = await own_job(studio, video_id)
        asset = job.assets.get(variant)
        if job.status is not JobStatus.COMPLETED or asset is None:
            raise NotFoundError(f"Video {job.id} has no {variant}.", param="variant")
    except SorakitError as exc:
        return studio.error(exc)
    return FileResponse(
        asset.path, media_type=_IMAGE_TYPES[variant], headers={"cache-control": IMAGE_CACHE}
    )


@router.get("/library/{video_id}/thumbnail")
async def library_thumbnail(video_id: str, studio: StudioDep) -> Response:
    """The job's WebP thumbnail, for its owner."""
    return await _image(studio, video_id, "thumbnail")


@router.get("/library/{video_id}/spritesheet")
async def library_spritesheet(video_id: str, studio: StudioDep) -> Response:
    """The job's JPEG spritesheet (the frames the card scrubs through), for its owner."""
    return await _image(studio, video_id, "spritesheet")


@router.post("/library/{video_id}/delete")
async def library_delete(
    video_id: str,
    studio: StudioDep,
    remote: Annotated[str, Form()] = "",
    then: Annotated[str, Form()] = "",
    csrf_token: Annotated[str, Form(alias=CSRF_FIELD)] = "",
) -> Response:
    """Delete a finished job here and, with `remote`, at its provider (else nothing is deleted).

    From a card the card is swapped for a note; from the details page (`then=library`) the
    browser goes back to the Library.
    """
    if not studio.signed_in:
        return studio.to_sign_in()
    remote_too = bool(remote)
    try:
        studio.check_form(csrf_token)
        job = await own_job(studio, video_id)
        # As `sorakit jobs delete`: asked to delete the provider's copy, a failure there
        # keeps both copies, so the person can try again.
        job = await studio.engine.delete(job.id, remote=remote_too, remote_required=remote_too)
    except SorakitError as exc:
        return _refusal(studio, exc)
    if then == "library":
        if studio.is_htmx:
            return Response(status_code=204, headers={"HX-Redirect": "/library"})
        return RedirectResponse("/library", status_code=303)
    if not studio.is_htmx:
        return RedirectResponse("/library", status_code=303)
    where = "here and at the provider" if remote_too and job.remote_id else "here"
    response = studio.render("_library_deleted.html", job=job, where=where)
    response.headers["HX-Retarget"] = f"#card-{job.id}"
    response.headers["HX-Reswap"] = "outerHTML"
    return response


@router.post("/library/export")
async def library_export(
    studio: StudioDep,
    ids: Annotated[list[str] | None, Form()] = None,
    csrf_token: Annotated[str, Form(alias=CSRF_FIELD)] = "",
) -> Response:
    """A zip of the selected videos and a `jobs.json` manifest; another tenant's id is not found."""
    if not studio.signed_in:
        return studio.to_sign_in()
    chosen = list(dict.fromkeys(ids or []))
    try:
        studio.check_form(csrf_token)
        if not chosen:
            raise InvalidRequestError("Select at least one video to export.", param="ids")
        if len(chosen) > MAX_SELECTION:
            raise InvalidRequestError(
                f"Export at most {MAX_SELECTION} videos at a time; {len(chosen)} are selected.",
                param="ids",
            )
        jobs = [await own_job(studio, video_id) for video_id in chosen]
        return await zip_response(jobs, studio.settings.home)
    except SorakitError as exc:
        return _refusal(studio, exc)
