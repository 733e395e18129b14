"""The Images API under `/v1`: generations and edits (OpenAI's shapes), and sorakit's image jobs.

Each image is a ledger job (`sorakit.engine.images`), recorded before anything is sent, under the
caller's key, budget and model allow-list exactly as `/v1/videos` does. The request waits for its
images (they are quick) up to `settings.image_wait_seconds`; past that the answer names the jobs,
which go on: `GET /v1/images/{id}` shows one and `GET /v1/images/{id}/content` serves its file.
A `url` answer links to that content with a signed, expiring link (`gateway.links`), so an
`<img src>` needs no bearer token.
"""

from __future__ import annotations

import base64
import contextlib
import re
import time
from collections.abc import Sequence
from typing import Any

import anyio
from fastapi import APIRouter, Request, Response
from fastapi.responses import FileResponse

from sorakit.engine import Engine
from sorakit.engine.images import require_output
from sorakit.engine.supervisor import JobSupervisor
from sorakit.errors import (
    InvalidRequestError,
    NotFoundError,
    TransientProviderError,
    job_failed,
)
from sorakit.gateway.auth import Principal
from sorakit.gateway.references import image_bytes
from sorakit.ledger import JobRecord, JobStatus
from sorakit.server.bodies import Upload, read_body, refuse_unknown, string_field
from sorakit.server.deps import (
    EngineDep,
    GatekeeperDep,
    IdempotencyKeyDep,
    PrincipalDep,
    SettingsDep,
    SupervisorDep,
    principal_of,
)
from sorakit.server.errors import ERROR_RESPONSES
from sorakit.server.routes.links import link_signer
from sorakit.server.views import video_view
from sorakit.settings import Settings
from sorakit.wire.images import (
    BACKGROUNDS,
    COMPLEXITIES,
    INPUT_FIDELITIES,
    MODERATIONS,
    QUALITIES,
    RESPONSE_FORMATS,
    STYLES,
    Image,
    ImageJob,
    ImageJobError,
    ImagesResponse,
)

router = APIRouter(prefix="/v1", tags=["images"], responses=ERROR_RESPONSES)

DEFAULT_IMAGE_MODEL = "gpt-image-1"
CONTENT_PATH = "/v1/images/{image_id}/content"
COST_HEADER = "x-sorakit-cost"
"""The images' estimated cost in USD (the Images API has no field for it)."""
_COMMON_FIELDS = {
    "prompt",
    "model",
    "n",
    "size",
    "quality",
    "background",
    "output_format",
    "output_compression",
    "response_format",
    "user",
    "stream",
    "partial_images",
    "safety_identifier",
    "complexity",
    "frame_count",
    "frame_duration_ms",
    "svg",
}
_GENERATE_FIELDS = _COMMON_FIELDS | {"moderation", "style"}
_EDIT_FIELDS = _COMMON_FIELDS | {"image", "mask", "input_fidelity", "markup"}
_NOT_MADE_HERE = {
    "frame_count": "GIF output",
    "frame_duration_ms": "GIF output",
    "svg": "SVG output",
    "markup": "SVG markup edits",
}
"""Documented fields of outputs this server does not make: refused by name, never ignored."""
_CHOICES = {
    "quality": QUALITIES,
    "background": BACKGROUNDS,
    "moderation": MODERATIONS,
    "style": STYLES,
    "input_fidelity": INPUT_FIDELITIES,
    "complexity": COMPLEXITIES,
    "response_format": RESPONSE_FORMATS,
}


def _choice(body: dict[str, Any], name: str) -> str | None:
    """A field whose values are a fixed list (checked; most only describe the picture)."""
    value = string_field(body, name)
    allowed = _CHOICES[name]
    if value is not None and value not in allowed:
        raise InvalidRequestError(
            f"Invalid value for '{name}': expected one of {', '.join(allowed)}, but got {value!r}.",
            param=name,
            allowed=allowed,
        )
    return value


_INTEGER = re.compile(r"-?[0-9]{1,9}")
"""An integer as a form sends it (short: no one asks for a billion images)."""


def _integer(body: dict[str, Any], name: str, low: int, high: int, default: int) -> int:
    """An integer field (a multipart form sends it as text)."""
    value = body.get(name)
    if value is None:
        return default
    if isinstance(value, str) and _INTEGER.fullmatch(value.strip()):
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidRequestError(
            f"Invalid value for '{name}': expected an integer from {low} to {high}, "
            f"but got {value!r}.",
            param=name,
        )
    return value


def _flag(body: dict[str, Any], name: str) -> bool:
    value = body.get(name)
    if value is None or value is False or value == "false":
        return False
    if value is True or value == "true":
        return True
    raise InvalidRequestError(f"Invalid value for '{name}': expected a boolean.", param=name)


async def _image_input(value: Any, param: str) -> bytes:
    """An uploaded file, or (JSON) an object with `image_url` (a data URL or a public URL)."""
    if isinstance(value, Upload):
        return value.data
    if isinstance(value, dict) and isinstance(value.get("image_url"), str):
        return await image_bytes(value["image_url"], f"{param}.image_url")
    raise InvalidRequestError(
        f"'{param}' must be an image file (multipart), or an object with 'image_url'.",
        param=param,
    )


class _Asked:
    """The fields every image request shares, read and checked."""

    def __init__(self, body: dict[str, Any]) -> None:
        self.prompt = string_field(body, "prompt", required=True) or ""
        self.model = string_field(body, "model") or DEFAULT_IMAGE_MODEL
        self.n = _integer(body, "n", 1, 10, 1)
        self.size = string_field(body, "size")
        self.output_format = (string_field(body, "output_format") or "png").lower()
        self.response_format = _choice(body, "response_format") or "b64_json"
        self.quality = _choice(body, "quality") or "auto"
        self.background = _choice(body, "background") or "auto"
        for name in ("moderation", "style", "input_fidelity", "complexity"):
            if name in body:
                _choice(body, name)
        for name, what in _NOT_MADE_HERE.items():
            if body.get(name) is not None:
                raise InvalidRequestError(
                    f"'{name}' is for {what}, which this server does not make; it makes "
                    "png, jpeg and webp images.",
                    param=name,
                )
        string_field(body, "user")
        string_field(body, "safety_identifier")
        _integer(body, "output_compression", 0, 100, 100)
        _integer(body, "partial_images", 0, 3, 0)
        if _flag(body, "stream"):
            raise InvalidRequestError(
                "Streaming images is not supported by this server; send 'stream': false.",
                param="stream",
            )
        if self.background == "transparent" and self.output_format not in ("png", "webp"):
            raise InvalidRequestError(
                "A transparent background needs output_format 'png' or 'webp'.",
                param="background",
            )


AN_ANSWER: dict[int | str, dict[str, Any]] = {
    200: {"model": ImagesResponse, "description": "The images."}
}


@router.post("/images/generations", summary="Create an image", responses=AN_ANSWER)
async def create_images(
    request: Request,
    engine: EngineDep,
    supervisor: SupervisorDep,
    settings: SettingsDep,
    principal: PrincipalDep,
    gatekeeper: GatekeeperDep,
    idempotency_key: IdempotencyKeyDep,
) -> Response:
    """Make `n` images from a prompt; answers when they are done (b64_json or signed urls)."""
    body, _ = await read_body(request)
    refuse_unknown(body, _GENERATE_FIELDS)
    asked = _Asked(body)
    jobs = await _create(
        request, engine, principal, gatekeeper, idempotency_key, asked, images=(), mask=None
    )
    return await _answer(request, engine, supervisor, settings, asked, jobs)


@router.post("/images/edits", summary="Create an image edit", responses=AN_ANSWER)
async def edit_images(
    request: Request,
    engine: EngineDep,
    supervisor: SupervisorDep,
    settings: SettingsDep,
    principal: PrincipalDep,
    gatekeeper: GatekeeperDep,
    idempotency_key: IdempotencyKeyDep,
) -> Response:
    """Edit one or more images (`image` or `image[]`) as the prompt says; a `mask` (PNG with
    alpha, the first image's size) limits the change to its transparent area."""
    body, _ = await read_body(request)
    refuse_unknown(body, _EDIT_FIELDS)
    asked = _Asked(body)
    given = body.get("image")
    if given is None or given == []:
        raise InvalidRequestError("Missing required parameter: 'image'.", param="image")
    given = given if isinstance(given, list) else [given]
    images = [await _image_input(item, "image") for item in given]
    mask = await _image_input(body["mask"], "mask") if body.get("mask") is not None else None
    jobs = await _create(
        request, engine, principal, gatekeeper, idempotency_key, asked, images=images, mask=mask
    )
    return await _answer(request, engine, supervisor, settings, asked, jobs)


async def _create(
    request: Request,
    engine: Engine,
    principal: Principal,
    gatekeeper: Any,
    idempotency_key: str | None,
    asked: _Asked,
    *,
    images: Sequence[bytes],
    mask: bytes | None,
) -> list[JobRecord]:
    """The request's jobs, recorded under the caller (not yet sent)."""
    require_output(engine.catalog.resolve(asked.model), asked.model, "image")
    async with gatekeeper.lock(principal):
        await gatekeeper.admit(principal, asked.model)
        jobs = await engine.create_image(
            asked.prompt,
            model=asked.model,
            size=asked.size,
            n=asked.n,
            output_format=asked.output_format,
            images=images,
            mask=mask,
            owner=principal.owner,
            client_key=principal.scoped(idempotency_key),
            submit=False,
        )
    request.state.log_model, request.state.log_video = jobs[0].model, jobs[0].id
    costs = [job.estimated_cost for job in jobs]
    request.state.log_cost = None if None in costs else sum(c or 0.0 for c in costs)
    return jobs


async def _answer(
    request: Request,
    engine: Engine,
    supervisor: JobSupervisor,
    settings: Settings,
    asked: _Asked,
    jobs: list[JobRecord],
) -> Response:
    """Send the jobs, wait for them, and answer with the images in OpenAI's shape."""
    try:
        for job in jobs:
            with contextlib.suppress(TransientProviderError):  # the supervisor retries it
                await engine.runner.submit(job)
        done = await engine.wait_images(jobs, timeout=settings.image_wait_seconds)
    except BaseException:  # a timeout, a provider outage, a client gone: they go on
        for job in jobs:
            supervisor.watch(job.id)
        raise
    completed = [job for job in done if job.status is JobStatus.COMPLETED]
    if not completed:
        failed = done[0]
        raise job_failed(failed.id, failed.error_code, failed.error_message)
    data = [await _image(request, settings, job, asked.response_format) for job in completed]
    answer = ImagesResponse(
        created=int(time.time()),
        data=data,
        size=completed[0].size,
        output_format=completed[0].options.get("output_format", "png"),
        quality=asked.quality,
        background=asked.background,
    )
    costs = [job.cost if job.cost is not None else job.estimated_cost for job in completed]
    headers = {} if None in costs else {COST_HEADER: f"{sum(c or 0.0 for c in costs):.6f}"}
    return Response(
        answer.model_dump_json(exclude_none=True), media_type="application/json", headers=headers
    )


async def _image(
    request: Request, settings: Settings, job: JobRecord, response_format: str
) -> Image:
    asset = job.assets["image"]
    if response_format == "url":
        return Image(url=image_link(request, settings, job.id))
    data = await anyio.Path(asset.path).read_bytes()
    return Image(b64_json=base64.b64encode(data).decode())


def image_link(request: Request, settings: Settings, image_id: str) -> str:
    """An absolute, signed, expiring link to an image's content."""
    base = (settings.public_url or str(request.base_url)).rstrip("/")
    return base + link_signer(request, settings).path(image_id, kind="image")


@router.get("/images/{image_id}", summary="Retrieve an image job")
async def retrieve_image(image_id: str, engine: EngineDep, principal: PrincipalDep) -> ImageJob:
    """One image job (sorakit's own: OpenAI's Images API keeps no jobs); another key's is not
    found."""
    return image_view(await _own(engine, image_id, principal))


@router.get(
    "/images/{image_id}/content",
    summary="Download an image",
    response_model=None,
    response_class=FileResponse,
)
async def image_content(
    image_id: str,
    request: Request,
    engine: EngineDep,
    settings: SettingsDep,
    expires: int | None = None,
    signature: str | None = None,
) -> Response:
    """The image file: for its owner's key, or for anyone with a valid signed link."""
    if signature is not None or expires is not None:
        link_signer(request, settings).check(image_id, expires or 0, signature or "", kind="image")
        job = await engine.get(image_id)
        if job.id != image_id or job.kind != "image":
            raise _not_found(image_id)
    else:
        job = await _own(engine, image_id, await principal_of(request))
    asset = job.assets.get("image") if job.status is JobStatus.COMPLETED else None
    if asset is None:
        raise NotFoundError(
            f"Image {job.id} is not ready: its status is {video_view(job).status}.",
            param="image_id",
        )
    return FileResponse(
        asset.path,
        media_type=asset.media_type or "application/octet-stream",
        headers={
            "content-disposition": f'inline; filename="{job.id}.{asset.path.rsplit(".", 1)[-1]}"'
        },
    )


def image_view(job: JobRecord) -> ImageJob:
    """A ledger job as sorakit's image object."""
    error = None
    if job.status in (JobStatus.FAILED, JobStatus.CANCELLED):
        error = ImageJobError(
            code=job.error_code or job.status.value,
            message=job.error_message or f"The job was {job.status.value}.",
        )
    return ImageJob(
        id=job.id,
        model=job.model,
        status=video_view(job).status,
        progress=100 if job.status is JobStatus.COMPLETED else job.progress,
        prompt=job.prompt,
        size=job.size,
        output_format=str(job.options.get("output_format", "png")),
        created_at=int(job.created_at),
        completed_at=int(job.completed_at) if job.completed_at else None,
        error=error,
        estimated_cost=job.estimated_cost,
        cost=job.cost,
    )


def _not_found(image_id: str) -> NotFoundError:
    return NotFoundError(f"No image found with id '{image_id[:200]}'.", param="image_id")


async def _own(engine: Engine, image_id: str, principal: Principal) -> JobRecord:
    """An image job the caller may see; anything else (a video, another key's) is not found."""
    try:
        job = await engine.get(image_id)
    except NotFoundError:
        raise _not_found(image_id) from None
    if job.id != image_id or job.kind != "image" or not principal.may_see(job.owner):
        raise _not_found(image_id)
    return job
