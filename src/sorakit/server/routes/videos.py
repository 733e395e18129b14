"""The ten Videos API endpoints under `/v1`."""

from __future__ import annotations

import base64
import contextlib
import json
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import FileResponse

from sorakit.catalog.capabilities import request_mode
from sorakit.engine.images import require_output
from sorakit.errors import InvalidRequestError, NotFoundError, TransientProviderError
from sorakit.gateway.auth import Principal
from sorakit.gateway.references import image_bytes
from sorakit.ledger import JobRecord, JobStatus
from sorakit.providers.base import EXPECTED_SECONDS_HEADER, SourceVideo
from sorakit.server.bodies import (
    Upload,
    described_body,
    read_body,
    refuse_unknown,
    seconds_field,
    string_field,
)
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
from sorakit.server.views import RenderedViews, poll_after_ms, video_view
from sorakit.wire.videos import (
    CONTENT_TYPES,
    CharacterCreateForm,
    Video,
    VideoCharacter,
    VideoCreateForm,
    VideoCreateParams,
    VideoDeleted,
    VideoEditForm,
    VideoEditParams,
    VideoExtendForm,
    VideoExtendParams,
    VideoList,
    VideoRemixParams,
)

A_VIDEO: dict[int | str, dict[str, Any]] = {200: {"model": Video, "description": "The video job."}}
"""What the routes that answer a hand-made `Response` document for their success."""

router = APIRouter(prefix="/v1", tags=["videos"], responses=ERROR_RESPONSES)

CHANGES_HEADER = "x-sorakit-changes"

_CREATE_FIELDS = {"prompt", "model", "seconds", "size", "input_reference", "characters"}
_EXTENSION_FIELDS = {"last_frame", "reference_images"}
"""sorakit's own create fields, for models that take them (Sora had neither)."""


def _video_response(job: JobRecord, views: RenderedViews | None = None) -> Response:
    headers = {}
    if not job.status.finished:
        headers["openai-poll-after-ms"] = str(poll_after_ms(job))
        if job.expected_render_seconds:
            headers[EXPECTED_SECONDS_HEADER] = f"{job.expected_render_seconds:.3f}"

    body = views.body(job) if views else video_view(job).model_dump_json().encode()
    return Response(body, media_type="application/json", headers=headers)


async def _reference(value: Any, param: str = "input_reference") -> bytes | None:
    """An image as bytes: an uploaded file, or an object with exactly one of image_url/file_id."""
    if value is None:
        return None
    if isinstance(value, Upload):
        return value.data
    if not isinstance(value, dict) or set(value) - {"image_url", "file_id"}:
        raise InvalidRequestError(
            f"'{param}' must be an image file or an object with 'image_url' or 'file_id'.",
            param=param,
        )
    given = [k for k in ("image_url", "file_id") if value.get(k)]
    if len(given) != 1:
        raise InvalidRequestError(
            f"Provide exactly one of '{param}.image_url' or '{param}.file_id'.", param=param
        )
    if given[0] == "file_id":
        raise InvalidRequestError(
            "This server keeps no Files API; upload the image or send it as a data URL.",
            param=f"{param}.file_id",
        )
    url = value["image_url"]
    if not isinstance(url, str):
        raise InvalidRequestError(
            f"'{param}.image_url' must be a string.", param=f"{param}.image_url"
        )
    # Bytes, never the string: the engine reads a string that is no URL as a path on this disk.
    return await image_bytes(url, f"{param}.image_url")


async def _reference_images(value: Any) -> list[bytes]:
    """`reference_images`: a list of images in `input_reference`'s shapes."""
    if value is None:
        return []
    if not isinstance(value, list):
        value = [value]  # one file part named `reference_images`
    images = []
    for index, item in enumerate(value):
        image = await _reference(item, f"reference_images[{index}]")
        if image is not None:
            images.append(image)
    return images


def _characters(value: Any) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(c, dict) and "id" in c for c in value):
        raise InvalidRequestError(
            "'characters' must be a list of {\"id\": ...} objects.", param="characters"
        )
    return [str(c["id"]) for c in value]


async def _source(value: Any, param: str = "video") -> str | SourceVideo:
    """`video`: `{"id": ...}` or an uploaded clip."""
    if isinstance(value, Upload):
        return SourceVideo(
            value.data, value.filename or "video.mp4", value.content_type or "video/mp4"
        )
    if isinstance(value, dict) and isinstance(value.get("id"), str) and value["id"]:
        return str(value["id"])
    raise InvalidRequestError(
        f"Missing required parameter: '{param}' (an object with 'id', or a video file).",
        param=param,
    )


async def _accepted(job: JobRecord, engine: Any, supervisor: Any, request: Request) -> Response:
    """Submit (a transient provider failure leaves it queued for the supervisor), then track."""
    request.state.log_model, request.state.log_video = job.model, job.id
    request.state.log_cost = job.estimated_cost
    with contextlib.suppress(TransientProviderError):
        job = await engine.runner.submit(job)
    supervisor.watch(job.id)
    response = _video_response(job)
    if job.options.get("changes"):  # what routing and snapping changed, for clients that care
        response.headers[CHANGES_HEADER] = json.dumps(job.options["changes"])
    return response


@router.post(
    "/videos",
    summary="Create a video",
    responses=A_VIDEO,
    openapi_extra=described_body(VideoCreateParams, VideoCreateForm),
)
async def create_video(
    request: Request,
    engine: EngineDep,
    supervisor: SupervisorDep,
    settings: SettingsDep,
    principal: PrincipalDep,
    gatekeeper: GatekeeperDep,
    idempotency_key: IdempotencyKeyDep,
) -> Response:
    """Create a video job."""
    body, is_json = await read_body(request)
    refuse_unknown(body, _CREATE_FIELDS | _EXTENSION_FIELDS)
    model = string_field(body, "model") or "sora-2"
    entry = engine.catalog.resolve(model)
    require_output(entry, model, "video")  # an image model: the sentence names /v1/images
    mode = request_mode(
        first_frame=body.get("input_reference") is not None,
        references=bool(body.get("reference_images")),
    )
    allowed = entry.capabilities.for_mode(mode).seconds  # what this request's mode takes
    seconds = seconds_field(body, allowed) if is_json else body.get("seconds")
    prompt = string_field(body, "prompt", required=True) or ""
    reference = await _reference(body.get("input_reference"))
    last_frame = await _reference(body.get("last_frame"), "last_frame")
    reference_images = await _reference_images(body.get("reference_images"))
    async with gatekeeper.lock(principal):
        await gatekeeper.admit(principal, model)
        job = await engine.create(
            prompt,
            model=model,
            seconds=seconds,
            size=string_field(body, "size"),
            reference=reference,
            last_frame=last_frame,
            reference_images=reference_images,
            characters=_characters(body.get("characters")),
            snap=False,
            fit="crop" if settings.fit_references else None,
            client_key=principal.scoped(idempotency_key),
            submit=False,
            owner=principal.owner,
        )
    return await _accepted(job, engine, supervisor, request)


@router.get("/videos", summary="List videos")
async def list_videos(
    engine: EngineDep,
    principal: PrincipalDep,
    after: str | None = None,
    limit: Annotated[int, Query(ge=0, le=100)] = 20,
    order: Literal["asc", "desc"] = "desc",
) -> VideoList:
    """List video jobs, newest first by default (a key sees only its own)."""
    owner = None if principal.sees_all or principal.key is None else principal.key.id
    jobs, has_more = await engine.ledger.list_jobs(
        after=after, limit=limit, order=order, owner=owner, exclude_kinds=("image",)
    )
    data = [video_view(job) for job in jobs]
    return VideoList(
        data=data,
        first_id=data[0].id if data else None,
        last_id=data[-1].id if data else None,
        has_more=has_more,
    )


@router.post(
    "/videos/edits",
    summary="Edit a video",
    responses=A_VIDEO,
    openapi_extra=described_body(VideoEditParams, VideoEditForm),
)
async def edit_video(
    request: Request,
    engine: EngineDep,
    supervisor: SupervisorDep,
    principal: PrincipalDep,
    gatekeeper: GatekeeperDep,
    idempotency_key: IdempotencyKeyDep,
) -> Response:
    """Edit a completed video, or an uploaded clip, as the prompt says."""
    body, _ = await read_body(request)
    refuse_unknown(body, {"prompt", "video", "model"})
    prompt = string_field(body, "prompt", required=True) or ""
    source = await _source(body.get("video"))
    model = string_field(body, "model") or "sora-2"
    if isinstance(source, str):
        source = (await _own(engine, source, principal)).id
    async with gatekeeper.lock(principal):
        await gatekeeper.admit(principal, model)
        job = await engine.edit(
            source,
            prompt,
            model=model,
            client_key=principal.scoped(idempotency_key),
            submit=False,
            owner=principal.owner,
        )
    return await _accepted(job, engine, supervisor, request)


@router.post(
    "/videos/extensions",
    summary="Extend a video",
    responses=A_VIDEO,
    openapi_extra=described_body(VideoExtendParams, VideoExtendForm),
)
async def extend_video(
    request: Request,
    engine: EngineDep,
    supervisor: SupervisorDep,
    principal: PrincipalDep,
    gatekeeper: GatekeeperDep,
    idempotency_key: IdempotencyKeyDep,
) -> Response:
    """Continue a completed video; the new video holds the stitched whole."""
    body, is_json = await read_body(request)
    refuse_unknown(body, {"prompt", "video", "seconds"})
    prompt = string_field(body, "prompt", required=True) or ""
    source = await _source(body.get("video"))
    if not isinstance(source, str):
        raise InvalidRequestError(
            "Extending an uploaded clip is not supported here; extend a video by its id.",
            param="video",
        )
    record = await _own(engine, source, principal)
    caps = engine.catalog.serving(record.provider, record.provider_model, record.model).capabilities
    allowed = caps.for_extension().seconds
    seconds = (
        seconds_field(body, allowed, required=True) if is_json else body.get("seconds")
    ) or ""
    if not seconds:
        raise InvalidRequestError("Missing required parameter: 'seconds'.", param="seconds")
    async with gatekeeper.lock(principal):
        await gatekeeper.admit(principal, record.model)
        job = await engine.extend(
            record.id,
            prompt,
            seconds,
            client_key=principal.scoped(idempotency_key),
            submit=False,
            owner=principal.owner,
        )
    return await _accepted(job, engine, supervisor, request)


@router.post(
    "/videos/characters",
    summary="Create a character",
    openapi_extra=described_body(None, CharacterCreateForm),
)
async def create_character(
    request: Request,
    engine: EngineDep,
    principal: PrincipalDep,
    idempotency_key: IdempotencyKeyDep,
) -> VideoCharacter:
    """Make a character from a short clip (multipart only); only its maker may use it."""
    body, is_json = await read_body(request)
    if is_json:
        raise InvalidRequestError(
            "Characters are created with multipart/form-data, with a 'video' file."
        )
    name = string_field(body, "name", required=True) or ""
    video = body.get("video")
    if not isinstance(video, Upload):
        raise InvalidRequestError(
            "Missing required parameter: 'video' (a video file).", param="video"
        )
    character = await engine.create_character(
        name,
        SourceVideo(video.data, video.filename or "video.mp4", video.content_type or "video/mp4"),
        owner=principal.owner,
        client_key=principal.scoped(idempotency_key),
    )
    return VideoCharacter(id=character.id, name=character.name, created_at=character.created_at)


@router.get(
    "/videos/characters/{character_id}",
    summary="Retrieve a character",
)
async def get_character(
    character_id: str, engine: EngineDep, principal: PrincipalDep
) -> VideoCharacter:
    """Look a character up; another key's is not found."""
    character = await engine.get_character(character_id, owner=principal.owner)
    return VideoCharacter(id=character.id, name=character.name, created_at=character.created_at)


@router.get("/videos/{video_id}", summary="Retrieve a video", responses=A_VIDEO)
async def retrieve_video(video_id: str, request: Request) -> Response:
    """Retrieve a video job; `openai-poll-after-ms` says when to ask again."""
    # The hottest route (every poller calls it): the app's state is read directly rather than
    # through dependencies, which cost a measurable share of a cached answer.
    state = request.app.state
    principal = await principal_of(request)
    return _video_response(await _own(state.engine, video_id, principal), state.views)


@router.delete("/videos/{video_id}", summary="Delete a video")
async def delete_video(video_id: str, engine: EngineDep, principal: PrincipalDep) -> VideoDeleted:
    """Delete a completed or failed video and its files."""
    job = await engine.delete((await _own(engine, video_id, principal)).id)
    return VideoDeleted(id=job.id)


@router.get(
    "/videos/{video_id}/content",
    summary="Download video content",
    response_model=None,
    response_class=FileResponse,
    responses={
        200: {
            "description": "The file.",
            "content": {media_type: {} for media_type in CONTENT_TYPES.values()},
        }
    },
)
async def video_content(
    video_id: str,
    engine: EngineDep,
    principal: PrincipalDep,
    variant: Literal["video", "thumbnail", "spritesheet"] = "video",
) -> Response:
    """Download the MP4, or its WebP thumbnail or JPEG spritesheet."""
    job = await _own(engine, video_id, principal)
    if job.status is not JobStatus.COMPLETED:
        raise NotFoundError(
            f"Video {job.id} is not ready: its status is {video_view(job).status}. "
            "Content can be downloaded once the video is completed.",
            param="video_id",
        )
    asset = job.assets.get(variant)
    if asset is None:
        raise NotFoundError(f"Video {job.id} has no {variant}.", param="variant")
    return FileResponse(
        asset.path,
        media_type=CONTENT_TYPES[variant],
        headers={
            "content-disposition": f'inline; filename="{job.id}.{asset.path.rsplit(".", 1)[-1]}"'
        },
    )


@router.post(
    "/videos/{video_id}/remix",
    summary="Remix a video",
    responses=A_VIDEO,
    openapi_extra=described_body(VideoRemixParams),
)
async def remix_video(
    video_id: str,
    request: Request,
    engine: EngineDep,
    supervisor: SupervisorDep,
    principal: PrincipalDep,
    gatekeeper: GatekeeperDep,
    idempotency_key: IdempotencyKeyDep,
) -> Response:
    """Make a new video from a completed one, changed as the prompt says."""
    body, _ = await read_body(request)
    refuse_unknown(body, {"prompt"})
    prompt = string_field(body, "prompt", required=True) or ""
    source = await _own(engine, video_id, principal)
    async with gatekeeper.lock(principal):
        await gatekeeper.admit(principal, source.model)
        job = await engine.remix(
            source.id,
            prompt,
            client_key=principal.scoped(idempotency_key),
            submit=False,
            owner=principal.owner,
        )
    return await _accepted(job, engine, supervisor, request)


async def _own(engine: Any, video_id: str, principal: Principal) -> JobRecord:
    """A video by its public id, if the caller may see it: another key's video is not found.

    The server never exposes provider ids, so a lookup by one is not found either.
    """
    job: JobRecord = await engine.get(video_id)
    if job.id != video_id or job.kind == "image" or not principal.may_see(job.owner):
        raise NotFoundError(f"No video found with id '{video_id}'.", param="video_id")
    return job


def data_url(data: bytes, media_type: str) -> str:
    """A base64 data URL (for tests and clients that send references inline)."""
    return f"data:{media_type};base64,{base64.b64encode(data).decode()}"


# Pollers call `retrieve_video` far more than anything else, and FastAPI tries a router's routes
# in order (once from the app, once within this router): trying it first saves a dozen regex
# matches a poll. It shadows nothing: `{video_id}` matches no path with a further `/`.
router.routes.sort(key=lambda route: getattr(route, "endpoint", None) is not retrieve_video)
