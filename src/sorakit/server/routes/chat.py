"""The chat-completions facade: sora2api's way of asking for a video, on our engine.

`POST /v1/chat/completions` reads the job from the model name (`sorakit.gateway.chat_models`) and
the conversation (`sorakit.gateway.turns.understand`: the words win over the name's length and
shape, and "it" is sorakit's latest video of the conversation), creates it as the Videos API would
for the same caller (same ownership, models, budget and limits), and answers with every choice
that was not literally asked for, then a signed download link and an embed; streamed, it sends
progress chunks while the work runs. A remix or an extension is of the caller's own video; a
storyboard (`sorakit.gateway.chat_storyboards`), variations and a long video
(`sorakit.gateway.chat_turns`) are pipelines of the caller's jobs; images, asked of an image
model or in words, are image jobs (`sorakit.gateway.chat_images`). Every refusal happens before
the first byte, in the OpenAI error envelope; once streaming, a failure is an error event and
`[DONE]`. The supervisor (or a pipeline's render task) tracks the work, not the request: a client
that goes away leaves it running.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from typing import Any, Protocol

import anyio
from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse

from sorakit.engine import Engine
from sorakit.errors import (
    InvalidRequestError,
    JobFailedError,
    JobTimeoutError,
    NotFoundError,
    SorakitError,
    TransientProviderError,
)
from sorakit.gateway.auth import Principal
from sorakit.gateway.chat_enhance import EnhancedAnswer, enhancement_answer
from sorakit.gateway.chat_images import (
    ImageWatch,
    image_chat_model,
    image_chat_names,
    image_intro,
    start_images,
)
from sorakit.gateway.chat_models import ChatRequest, chat_model_names, parse_model
from sorakit.gateway.chat_storyboards import (
    StoryboardWatch,
    start_storyboard,
    storyboard_intro,
)
from sorakit.gateway.chat_turns import (
    LinkFor,
    PipelineWatch,
    job_intro,
    pipeline_intro,
    read_turn,
    ready_text,
    start_job,
    start_long,
    start_takes,
    takes_allowed,
    takes_asked,
    with_notes,
)
from sorakit.gateway.links import LinkKind
from sorakit.gateway.pipeline_renders import PipelineRenders
from sorakit.ledger import JobRecord, JobStatus
from sorakit.ledger.uncut import uncut
from sorakit.pipelines.styles import apply_styles
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
from sorakit.server.routes.links import link_signer
from sorakit.settings import Settings
from sorakit.wire.chat import ChatCompletionParams

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

    def chunk(
        self,
        delta: dict[str, Any],
        finish_reason: str | None = None,
        *,
        sorakit: dict[str, Any] | None = None,
    ) -> str:
        """One `chat.completion.chunk` as an SSE event; `sorakit` is the work's state, an extra
        field OpenAI clients ignore (the Open WebUI pipe reads its percent and ETA)."""
        body: dict[str, Any] = {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "system_fingerprint": None,
            "choices": [
                {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
            ],
        }
        if sorakit is not None:
            body["sorakit"] = sorakit
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


def _renders(request: Request) -> PipelineRenders:
    """The app's pipeline runs (made by its lifespan, which stops them at shutdown)."""
    renders: PipelineRenders = request.app.state.pipelines
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
    chosen = image_chat_model(name, engine.catalog, settings) or parse_model(name, engine.catalog)
    completion = Completion.new(name, usage=usage)
    if chosen.enhance is not None:
        enhanced = await enhancement_answer(body.get("messages"), chosen, settings)
        return _enhance(completion, enhanced, stream=stream)
    base, signer = _base_url(request, settings), link_signer(request, settings)
    n = takes_asked(body)
    most = takes_allowed(body)
    turn = await read_turn(body.get("messages"), chosen, engine.catalog, settings, signer, n, most)
    work: Work
    if turn.intent == "image":
        images, styles = await start_images(
            engine, supervisor, principal, gatekeeper, turn, principal.scoped(idempotency_key)
        )
        intro = with_notes(image_intro(images, styles, turn), turn.notes)
        work = ImageWatch(engine, images[0].id, tuple(image.id for image in images))
    elif turn.intent == "storyboard":
        renders = _renders(request)
        asked = ChatRequest(
            prompt=turn.storyboard,
            styles=apply_styles(turn.storyboard)[1],
            storyboard=True,
            text=turn.storyboard,
        )
        shaped = replace(chosen, model=turn.model, size=turn.size)
        pipeline = await start_storyboard(engine, renders, principal, gatekeeper, shaped, asked)
        intro = with_notes(storyboard_intro(pipeline, chosen, asked), turn.notes)
        work = StoryboardWatch(engine, renders, pipeline.id, len(pipeline.spec["shots"]))
    elif turn.intent in ("variations", "long"):
        renders = _renders(request)
        prompt, styles = apply_styles(turn.prompt)
        start = start_takes if turn.intent == "variations" else start_long
        pipeline = await start(engine, renders, principal, gatekeeper, turn, prompt)
        intro = pipeline_intro(pipeline, turn, styles)
        work = PipelineWatch(engine, renders, pipeline.id)
    else:
        job, styles = await start_job(
            engine, principal, gatekeeper, turn, principal.scoped(idempotency_key)
        )
        with contextlib.suppress(TransientProviderError):  # left queued for the supervisor
            job = await engine.runner.submit(job)
        supervisor.watch(job.id)
        intro, work = job_intro(job, styles, turn.notes), JobWatch(engine, job.id)

    def link(work_id: str, kind: LinkKind) -> str:  # signed when ready: its whole TTL from then
        return f"{base}{signer.path(work_id, kind=kind)}"

    if stream:
        return StreamingResponse(
            _stream(work, completion, intro, link),
            media_type="text/event-stream",
            headers={"cache-control": "no-cache", "x-accel-buffering": "no"},
        )
    await _finished(work)
    return JSONResponse(completion.message(f"{intro}\n\n{await _ready(work, link)}"))


def _say(completion: Completion, text: str, *, stream: bool) -> Response:
    """An answer that starts no work: the whole text, streamed or not."""
    if not stream:
        return JSONResponse(completion.message(text))

    async def events() -> AsyncIterator[str]:
        yield completion.chunk({"role": "assistant", "content": ""})
        yield completion.chunk({"content": text})
        yield completion.end()

    return StreamingResponse(events(), media_type="text/event-stream")


def _enhance(completion: Completion, enhanced: EnhancedAnswer, *, stream: bool) -> Response:
    """The enhanced prompt as the answer; its text says what happened, and a header repeats
    the note for scripts."""
    note = enhanced.note  # a header carries ASCII safely; the text has the note as written
    headers = {"x-sorakit-enhancement": note.encode("ascii", "replace").decode()} if note else {}
    answer = _say(completion, enhanced.text, stream=stream)
    answer.headers.update(headers)
    return answer


async def _ready(work: Work, link: LinkFor) -> str:
    """The final message: a Markdown link and an HTML embed of each signed URL."""
    if isinstance(work, (PipelineWatch, ImageWatch)):
        return await work.ready(link)
    what = "storyboard" if work.kind == "pipeline" else "video"
    return ready_text(what, work.id, link(work.id, work.kind))


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
    while not (await uncut(work.poll()))[0]:
        if time.monotonic() > deadline:
            raise work.too_long(WAIT_SECONDS)
        await anyio.sleep(POLL_SECONDS)
    await work.outcome()


async def _stream(
    work: Work, completion: Completion, intro: str, link: LinkFor
) -> AsyncIterator[str]:
    """Role, intro, a chunk per changed progress line, the final message, `stop`, `[DONE]`;
    each chunk after the role carries the work's state (`_state`)."""
    yield completion.chunk({"role": "assistant", "content": ""})
    said: dict[str, str] = {}
    try:
        yield completion.chunk({"content": intro + "\n"}, sorakit=await uncut(_state(work, {})))
        quiet_since = time.monotonic()
        deadline = quiet_since + WAIT_SECONDS
        while not (polled := await uncut(work.poll()))[0]:
            if time.monotonic() > deadline:
                raise work.too_long(WAIT_SECONDS)
            changed = [text for topic, text in polled[1].items() if said.get(topic) != text]
            state = await uncut(_state(work, polled[1])) if changed else None
            for text in changed:
                yield completion.chunk({"content": text + "\n"}, sorakit=state)
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
    try:
        ready = await _ready(work, link)
    except SorakitError as exc:
        yield _event_error(exc)
        yield DONE
        return
    done = {"id": work.id, "kind": work.kind, "status": "completed", "progress": 100}
    yield completion.chunk({"content": "\n" + ready}, sorakit=done | {"eta_seconds": 0.0})
    yield completion.end()


_PERCENT = re.compile(r"(\d{1,3})%")
_DONE_WORDS = ("done", "ready", "completed", "stitched")


async def _state(work: Work, lines: dict[str, str]) -> dict[str, Any]:
    """The work's id, status, percent and seconds left (None when unknown): a job's from the
    ledger, a pipeline's as the mean over its progress lines."""
    state: dict[str, Any] = {"id": work.id, "kind": work.kind}
    if isinstance(work, JobWatch):
        job = await work.engine.ledger.get(work.id)
        eta = None
        if job.expected_render_seconds and job.status in (JobStatus.QUEUED, JobStatus.IN_PROGRESS):
            started = job.submitted_at or job.created_at
            eta = max(0.0, round(job.expected_render_seconds - (time.time() - started), 1))
        return state | {"status": job.status.value, "progress": job.progress, "eta_seconds": eta}
    percents = []
    for text in lines.values():
        if match := _PERCENT.search(text):
            percents.append(min(100, int(match.group(1))))
        else:
            percents.append(100 if any(word in text for word in _DONE_WORDS) else 0)
    progress = round(sum(percents) / len(percents)) if percents else 0
    return state | {"status": "in_progress", "progress": progress, "eta_seconds": None}


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
    images = image_chat_names(engine.catalog, engine.settings)
    for name, target in [*chat_model_names(engine.catalog), *images]:  # videos, then images
        if name in seen or (target is not None and allowed is not None and target not in allowed):
            continue
        seen.add(name)
        data.append({"id": name, "object": "model", "created": 0, "owned_by": "sorakit"})
    return data
