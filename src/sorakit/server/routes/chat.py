"""The chat-completions facade: sora2api's way of asking for a video, on our engine.

`POST /v1/chat/completions` reads the job from the model name and the last user message
(`sorakit.gateway.chat_models`), creates it as the Videos API would for the same caller (same
ownership, models, budget and limits), and answers with a signed download link and an embed;
streamed, it sends progress chunks while the job runs. A `[5s] … [8s] …` message is a storyboard
(`sorakit.gateway.chat_storyboards`): every shot is the caller's job, and the link serves the
stitched video. Every refusal happens before the first byte, in the OpenAI error envelope; once
streaming, a failure is an error event and `[DONE]`. The supervisor (or, for a storyboard, its
render task) tracks the work, not the request: a client that goes away leaves it running.
"""

from __future__ import annotations

import contextlib
import html
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import anyio
from fastapi import APIRouter, Request, Response
from fastapi.responses import FileResponse, JSONResponse, StreamingResponse

from sorakit.engine import Engine
from sorakit.errors import (
    InvalidRequestError,
    JobFailedError,
    JobTimeoutError,
    NotFoundError,
    SorakitError,
    TransientProviderError,
)
from sorakit.gateway.auth import Gatekeeper, Principal
from sorakit.gateway.chat_models import (
    ChatModel,
    ChatRequest,
    chat_model_names,
    parse_messages,
    parse_model,
)
from sorakit.gateway.chat_storyboards import (
    StoryboardRenders,
    StoryboardWatch,
    pipeline_video,
    start_storyboard,
    storyboard_intro,
)
from sorakit.gateway.links import LinkKind, LinkSigner
from sorakit.gateway.references import image_bytes
from sorakit.ledger import JobRecord, JobStatus
from sorakit.pipelines.enhance import enhance_prompt
from sorakit.server.bodies import described_body, parse_json
from sorakit.server.deps import (
    EngineDep,
    GatekeeperDep,
    IdempotencyKeyDep,
    PrincipalDep,
    SettingsDep,
    SupervisorDep,
)
from sorakit.server.errors import error_response
from sorakit.settings import Settings
from sorakit.wire.chat import ChatCompletionParams
from sorakit.wire.videos import CONTENT_TYPES

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/v1", tags=["chat"])

POLL_SECONDS = 1.0
"""How often a waiting request reads its job from the ledger (the supervisor drives it)."""
WAIT_SECONDS = 3600.0
"""The longest a chat request waits for its video; the job itself goes on after that."""
KEEPALIVE_SECONDS = 15.0
"""An SSE comment after this long without a chunk, so proxies keep the stream open."""


DONE = "data: [DONE]\n\n"
NO_TOKENS = {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}
"""No chat tokens are spent on a video; the cost is the video's, on the Videos API."""


@dataclass(frozen=True)
class Completion:
    """One answer's identity, and its bodies in OpenAI's shapes."""

    id: str
    model: str
    created: int
    usage: bool = False
    """The stream ends with a usage chunk (`stream_options.include_usage`)."""

    @classmethod
    def new(cls, model: str, *, usage: bool = False) -> Completion:
        return cls(f"chatcmpl-{uuid.uuid4().hex}", model, int(time.time()), usage)

    def message(self, content: str) -> dict[str, Any]:
        """A whole `chat.completion`."""
        return {
            "id": self.id,
            "object": "chat.completion",
            "created": self.created,
            "model": self.model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content, "refusal": None},
                    "logprobs": None,
                    "finish_reason": "stop",
                }
            ],
            "usage": dict(NO_TOKENS),
            "system_fingerprint": None,
        }

    def chunk(self, delta: dict[str, Any], finish_reason: str | None = None) -> str:
        """One `chat.completion.chunk` as an SSE event."""
        body = {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "system_fingerprint": None,
            "choices": [
                {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
            ],
        }
        return f"data: {json.dumps(body)}\n\n"

    def end(self) -> str:
        """`stop`, then the usage chunk when asked for, then `[DONE]`."""
        events = self.chunk({}, "stop")
        if self.usage:
            body = {
                "id": self.id,
                "object": "chat.completion.chunk",
                "created": self.created,
                "model": self.model,
                "system_fingerprint": None,
                "choices": [],
                "usage": dict(NO_TOKENS),
            }
            events += f"data: {json.dumps(body)}\n\n"
        return events + DONE


def _event_error(exc: SorakitError) -> str:
    """An error as the SDKs read it mid-stream: an event whose body holds `error`."""
    return f"data: {bytes(error_response(exc).body).decode()}\n\n"


async def _body(request: Request) -> dict[str, Any]:
    body = parse_json(await request.body())
    if not isinstance(body, dict):
        raise InvalidRequestError("The request body must be a JSON object.")
    return body


def _links(request: Request, settings: Settings) -> LinkSigner:
    """The app's link signer, made on first use (its key lives in SORAKIT_HOME)."""
    signer: LinkSigner | None = getattr(request.app.state, "links", None)
    if signer is None:
        signer = request.app.state.links = LinkSigner.from_settings(settings)
    return signer


def _renders(request: Request) -> StoryboardRenders:
    """The app's storyboard renders (made by its lifespan, which stops them at shutdown)."""
    renders: StoryboardRenders = request.app.state.storyboards
    return renders


class Work(Protocol):
    """What an answer waits on: `poll` says if it is done and its progress lines by topic."""

    id: str
    kind: LinkKind

    async def poll(self) -> tuple[bool, dict[str, str]]: ...
    async def outcome(self) -> None: ...
    def too_long(self, waited: float) -> SorakitError: ...


@dataclass
class JobWatch:
    """A video job as an answer waits on it, read from the ledger."""

    engine: Engine
    id: str
    kind: LinkKind = "video"

    async def poll(self) -> tuple[bool, dict[str, str]]:
        job = await self.engine.ledger.get(self.id)
        return job.status.finished, {"": _progress(job)}

    async def outcome(self) -> None:
        job = await self.engine.ledger.get(self.id)
        if job.status is not JobStatus.COMPLETED:
            raise _failure(job)

    def too_long(self, waited: float) -> SorakitError:
        exc = JobTimeoutError(self.id, waited)
        exc.message = (  # the server's follow-up is the Videos API, not the CLI's resume
            f"Video {self.id} is still rendering after {waited:g} s; it goes on, and "
            f"GET /v1/videos/{self.id} follows it."
        )
        return exc


def _base_url(request: Request, settings: Settings) -> str:
    return (settings.public_url or str(request.base_url)).rstrip("/")


@router.post(
    "/chat/completions",
    summary="Create a video through chat",
    openapi_extra=described_body(ChatCompletionParams),
)
async def chat_completions(
    request: Request,
    engine: EngineDep,
    supervisor: SupervisorDep,
    settings: SettingsDep,
    principal: PrincipalDep,
    gatekeeper: GatekeeperDep,
    idempotency_key: IdempotencyKeyDep,
) -> Response:
    """Make a video (or, with a `prompt-enhance-*` model, an enhanced prompt) from a chat."""
    body = await _body(request)
    name = body.get("model")
    if not isinstance(name, str) or not name:
        raise InvalidRequestError("Missing required parameter: 'model'.", param="model")
    stream = body.get("stream") is True
    options = body.get("stream_options")
    usage = stream and isinstance(options, dict) and options.get("include_usage") is True
    chosen = parse_model(name, engine.catalog)
    asked = parse_messages(body.get("messages"))
    completion = Completion.new(name, usage=usage)
    if chosen.enhance is not None:
        return await _enhance(completion, asked, chosen.enhance, settings, stream=stream)
    work: Work
    if asked.storyboard:
        renders = _renders(request)
        pipeline = await start_storyboard(engine, renders, principal, gatekeeper, chosen, asked)
        intro = storyboard_intro(pipeline, chosen, asked)
        work = StoryboardWatch(engine, renders, pipeline.id, len(pipeline.spec["shots"]))
    else:
        job = await _start(
            engine, principal, gatekeeper, chosen, asked, principal.scoped(idempotency_key)
        )
        with contextlib.suppress(TransientProviderError):  # left queued for the supervisor
            job = await engine.runner.submit(job)
        supervisor.watch(job.id)
        intro, work = _intro(job, asked), JobWatch(engine, job.id)
    base, signer = _base_url(request, settings), _links(request, settings)

    def link() -> str:  # signed when the video is ready, so it lasts its whole TTL from then
        return f"{base}{signer.path(work.id, kind=work.kind)}"

    if stream:
        return StreamingResponse(
            _stream(work, completion, intro, link),
            media_type="text/event-stream",
            headers={"cache-control": "no-cache", "x-accel-buffering": "no"},
        )
    await _finished(work)
    return JSONResponse(completion.message(f"{intro}\n\n{_ready(work, link())}"))


async def _enhance(
    completion: Completion, asked: ChatRequest, style: str, settings: Settings, *, stream: bool
) -> Response:
    """The enhanced prompt as the answer; on a chat failure the original, and a header says why."""
    result = await enhance_prompt(asked.prompt, style, settings=settings)
    headers = {"x-sorakit-enhancement": result.note} if result.note else {}
    if not stream:
        return JSONResponse(completion.message(result.enhanced), headers=headers)

    async def events() -> AsyncIterator[str]:
        yield completion.chunk({"role": "assistant", "content": ""})
        yield completion.chunk({"content": result.enhanced})
        yield completion.end()

    return StreamingResponse(events(), media_type="text/event-stream", headers=headers)


async def _start(
    engine: Engine,
    principal: Principal,
    gatekeeper: Gatekeeper,
    chosen: ChatModel,
    asked: ChatRequest,
    client_key: str | None,
) -> JobRecord:
    """Record the job for the caller (not yet submitted), as the Videos API routes do."""
    if asked.remix_of is not None:
        if asked.images:
            raise InvalidRequestError(
                "A remix keeps its video's frames: send either a video id or images, not both.",
                param="messages",
            )
        source = await _own(engine, asked.remix_of, principal)
        async with gatekeeper.lock(principal):
            await gatekeeper.admit(principal, source.model)
            return await engine.remix(
                source.id, asked.prompt, client_key=client_key, submit=False, owner=principal.owner
            )
    assert chosen.model is not None
    images = [await image_bytes(url, "messages") for url in asked.images]
    async with gatekeeper.lock(principal):
        await gatekeeper.admit(principal, chosen.model)
        return await engine.create(
            asked.prompt,
            model=chosen.model,
            seconds=chosen.seconds,
            size=chosen.size,
            reference=images[0] if images else None,
            reference_images=images[1:],
            snap=True,  # sora2api's names carry lengths and shapes our models may not have
            fit="crop",
            client_key=client_key,
            submit=False,
            owner=principal.owner,
        )


async def _own(engine: Engine, video_id: str, principal: Principal) -> JobRecord:
    """A video the caller may see; another key's video is not found, as in the Videos API."""
    try:
        job = await engine.get(video_id)
    except NotFoundError:
        job = None
    if job is None or job.id != video_id or not principal.may_see(job.owner):
        raise NotFoundError(f"No video found with id '{video_id}'.", param="messages")
    return job


def _intro(job: JobRecord, asked: ChatRequest) -> str:
    """The first words of the answer: what was made, and what routing and snapping changed."""
    what = f"remix of {job.source_id}" if job.source_id and job.kind == "remix" else "video"
    text = f"Creating {what} {job.id} with {job.model}: {job.seconds} s, {job.size}."
    if asked.styles:
        text += f" Styles: {', '.join(asked.styles)}."
    if changes := job.options.get("changes"):
        text += f" Adjusted: {'; '.join(changes)}."
    return text


def _ready(work: Work, link: str) -> str:
    """The final message: a Markdown link and an HTML embed of the signed URL."""
    what = "storyboard" if work.kind == "pipeline" else "video"
    return (
        f"Your {what} is ready: [{work.id}.mp4]({link}) (the link works for 24 hours).\n\n"
        f'<video src="{html.escape(link)}" controls></video>'
    )


def _progress(job: JobRecord) -> str:
    match job.status:
        case JobStatus.PENDING:
            return "Submitting…"
        case JobStatus.QUEUED:
            return "Queued…"
        case JobStatus.FETCHING:
            return "Rendered; fetching the video…"
        case _:
            return f"Rendering… {job.progress}%"


def _failure(job: JobRecord) -> SorakitError:
    if job.status is JobStatus.CANCELLED:
        return JobFailedError(job.id, "cancelled", "the job was cancelled")
    return JobFailedError(job.id, job.error_code, job.error_message)


async def _finished(work: Work) -> None:
    """Wait in the ledger for the supervisor (or the render task) to finish the work."""
    deadline = time.monotonic() + WAIT_SECONDS
    while not (await work.poll())[0]:
        if time.monotonic() > deadline:
            raise work.too_long(WAIT_SECONDS)
        await anyio.sleep(POLL_SECONDS)
    await work.outcome()


async def _stream(
    work: Work, completion: Completion, intro: str, link: Callable[[], str]
) -> AsyncIterator[str]:
    """Role, intro, a chunk per changed progress line, the final message, `stop`, `[DONE]`."""
    yield completion.chunk({"role": "assistant", "content": ""})
    yield completion.chunk({"content": intro + "\n"})
    said: dict[str, str] = {}
    quiet_since = time.monotonic()
    deadline = quiet_since + WAIT_SECONDS
    try:
        while not (polled := await work.poll())[0]:
            if time.monotonic() > deadline:
                raise work.too_long(WAIT_SECONDS)
            changed = [text for topic, text in polled[1].items() if said.get(topic) != text]
            for text in changed:
                yield completion.chunk({"content": text + "\n"})
            said.update(polled[1])
            if changed:
                quiet_since = time.monotonic()
            elif time.monotonic() - quiet_since > KEEPALIVE_SECONDS:
                yield ": keep-alive\n\n"
                quiet_since = time.monotonic()
            await anyio.sleep(POLL_SECONDS)
        await work.outcome()
    except SorakitError as exc:
        yield _event_error(exc)
        yield DONE
        return
    except Exception:  # the status is already sent: end the stream as the SDKs expect
        logger.exception("chat stream for %s broke off", work.id)
        yield _event_error(SorakitError("The server lost track of this answer; the video goes on."))
        yield DONE
        return
    yield completion.chunk({"content": "\n" + _ready(work, link())})
    yield completion.end()


@router.get("/models", summary="List models")
async def list_models(engine: EngineDep, principal: PrincipalDep) -> dict[str, Any]:
    """The models the caller's key may use, sora2api's names included, in OpenAI's list shape."""
    return {"object": "list", "data": _models(engine, principal)}


@router.get("/models/{model}", summary="Retrieve a model")
async def retrieve_model(model: str, engine: EngineDep, principal: PrincipalDep) -> dict[str, Any]:
    """One model the caller may use; another is not found."""
    for item in _models(engine, principal):
        if item["id"] == model:
            return item
    raise NotFoundError(f"The model {model!r} does not exist.", param="model")


def _models(engine: Engine, principal: Principal) -> list[dict[str, Any]]:
    key = principal.key
    allowed = None if principal.sees_all or key is None else key.models
    seen: set[str] = set()
    data = []
    for name, target in chat_model_names(engine.catalog):
        if name in seen or (target is not None and allowed is not None and target not in allowed):
            continue
        seen.add(name)
        data.append({"id": name, "object": "model", "created": 0, "owned_by": "sorakit"})
    return data


@router.get("/links/{video_id}/content", summary="Download through a signed link")
async def linked_content(
    video_id: str,
    expires: int,
    signature: str,
    request: Request,
    engine: EngineDep,
    settings: SettingsDep,
) -> FileResponse:
    """The MP4 behind a chat answer's link: the signature is the credential, no bearer token."""
    _links(request, settings).check(video_id, expires, signature)
    job = await engine.get(video_id)
    asset = job.assets.get("video") if job.status is JobStatus.COMPLETED else None
    if asset is None:
        raise NotFoundError(f"Video {video_id} has no content to download.", param="video_id")
    return _mp4(asset.path, job.id)


@router.get(
    "/links/pipelines/{pipeline_id}/content", summary="Download a storyboard through a signed link"
)
async def linked_pipeline_content(
    pipeline_id: str,
    expires: int,
    signature: str,
    request: Request,
    engine: EngineDep,
    settings: SettingsDep,
) -> FileResponse:
    """The stitched MP4 behind a storyboard answer's link; no key can fetch it any other way."""
    _links(request, settings).check(pipeline_id, expires, signature, kind="pipeline")
    return _mp4(await pipeline_video(engine, pipeline_id), pipeline_id)


def _mp4(path: str | Path, name: str) -> FileResponse:
    return FileResponse(
        path,
        media_type=CONTENT_TYPES["video"],
        headers={"content-disposition": f'inline; filename="{name}.mp4"'},
    )
