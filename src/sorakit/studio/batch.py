"""The Batch page: a JSONL or CSV file of rows, checked before anything is sent.

Choosing a file (`POST /batch/check`) lists every row as it will be planned (model, seconds,
size, estimate) and every bad row by its line with the parser's reason; nothing is recorded.
Start (`POST /batch`) sends the file again with the options, checks it again, and records a batch
pipeline for the caller (the one `sorakit batch` runs), then the run page follows it.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, Form, UploadFile
from fastapi.responses import Response

from sorakit.errors import SorakitError
from sorakit.media.images import MAX_IMAGE_BYTES
from sorakit.studio import runs
from sorakit.studio.batch_rows import (
    MAX_FILE_BYTES,
    MAX_ROWS,
    Checked,
    check_text,
    read_upload,
    safe_name,
    upload_text,
)
from sorakit.studio.batch_start import (
    DEFAULT_CONCURRENCY,
    ENHANCE_STYLES,
    MAX_CONCURRENCY,
    run_options,
    start_batch,
)
from sorakit.studio.render import Studio, StudioDep
from sorakit.studio.session import CSRF_FIELD

router = APIRouter()

UploadDep = Annotated[UploadFile | None, File()]
FormText = Annotated[str, Form()]


def key_limits(studio: Studio) -> str:
    """The signed-in key's limits in a sentence, so a person knows what a run must fit in."""
    key = studio.principal.key if studio.principal else None
    if key is None or key.admin:
        return ""
    parts = []
    if key.concurrency is not None:
        parts.append(f"{key.concurrency} video{'s' * (key.concurrency > 1)} at once")
    if key.rpm is not None:
        parts.append(f"{key.rpm:g} created a minute")
    if key.budget_usd is not None:
        parts.append(f"a budget of ${key.budget_usd:.2f}")
    return f"This API key allows {', '.join(parts)}; a run stays inside them." if parts else ""


def page_context(studio: Studio) -> dict[str, Any]:
    """What the Batch and Multiple pages' option fields show."""
    return {
        "styles": ENHANCE_STYLES,
        "limits": key_limits(studio),
        "default_concurrency": DEFAULT_CONCURRENCY,
        "max_concurrency": MAX_CONCURRENCY,
    }


async def _checked(
    studio: Studio, file: UploadFile | None, reference: UploadFile | None
) -> tuple[Checked, bytes | None]:
    """The uploaded file's rows, checked and planned with the shared reference (if any)."""
    data, filename = await read_upload(file, MAX_FILE_BYTES)
    name = safe_name(filename)
    text = upload_text(data, filename or "the file")
    image, _ = await read_upload(reference, MAX_IMAGE_BYTES)
    checked = await check_text(studio.engine, text, name, image or None)
    return checked, image or None


@router.get("/batch")
async def batch_page(studio: StudioDep) -> Response:
    """The Batch page."""
    if not studio.signed_in:
        return studio.to_sign_in()
    return studio.render("batch.html", checked=None, max_rows=MAX_ROWS, **page_context(studio))


@router.post("/batch/check")
async def batch_check(
    studio: StudioDep,
    file: UploadDep = None,
    reference: UploadDep = None,
    csrf_token: Annotated[str, Form(alias=CSRF_FIELD)] = "",
) -> Response:
    """Every row of the file as it will be planned, and every bad row by line; nothing is sent."""
    if (refusal := studio.form_refusal(csrf_token)) is not None:
        return refusal
    try:
        checked, _ = await _checked(studio, file, reference)
    except SorakitError as exc:
        return studio.error(exc)
    if studio.is_htmx:
        return studio.render("_batch_check.html", checked=checked)
    return studio.render("batch.html", checked=checked, max_rows=MAX_ROWS, **page_context(studio))


@router.post("/batch")
async def batch_start(
    studio: StudioDep,
    file: UploadDep = None,
    reference: UploadDep = None,
    concurrency: FormText = "",
    rpm: FormText = "",
    budget: FormText = "",
    enhance: FormText = "",
    new: FormText = "",
    csrf_token: Annotated[str, Form(alias=CSRF_FIELD)] = "",
) -> Response:
    """Check the file again and start it as the caller's batch; then its run page."""
    if (refusal := studio.form_refusal(csrf_token)) is not None:
        return refusal
    try:
        options = run_options(concurrency, rpm, budget, enhance, new)
        checked, image = await _checked(studio, file, reference)
        pipeline = await start_batch(studio, checked, image, options)
    except SorakitError as exc:
        return studio.error(exc)
    return runs.started(studio, pipeline)
