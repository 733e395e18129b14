"""The chat facade's turns: what a message means (`understand`), and the pipelines it starts.

The chat route reads every video turn with `sorakit.gateway.turns.understand` (the model name's
length and shape are its defaults; the words win) and routes on the intent. A new video, a remix
and an extension are jobs the route makes itself; variations and a long video are pipelines,
recorded here for the caller's key (its videos, its budget, its concurrency as their
parallelism) and run by the app's `PipelineRenders`, so a client that goes away leaves them
running. `PipelineWatch` follows either in the ledger as the answer waits.
"""

from __future__ import annotations

import hashlib
import html
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace

import anyio

from sorakit.catalog import Catalog
from sorakit.engine import Engine
from sorakit.engine.images import MAX_IMAGES_PER_REQUEST
from sorakit.errors import (
    InvalidRequestError,
    JobFailedError,
    JobTimeoutError,
    NotFoundError,
    SorakitError,
)
from sorakit.gateway.auth import Gatekeeper, Principal
from sorakit.gateway.chat_images import turn_images
from sorakit.gateway.chat_models import ChatModel, parse_messages
from sorakit.gateway.links import LinkKind, LinkSigner
from sorakit.gateway.pipeline_renders import PipelineRenders
from sorakit.gateway.turns import Turn, turn_chat, understand
from sorakit.ledger import JobRecord, JobStatus, PipelineRecord, PipelineStatus
from sorakit.pipelines.enhance import Enhancement
from sorakit.pipelines.long import LongRequest, LongVideos
from sorakit.pipelines.steps import owner_fields
from sorakit.pipelines.styles import apply_styles
from sorakit.pipelines.variations import MAX_TAKES, Variations, VariationsRequest
from sorakit.settings import Settings

LinkFor = Callable[[str, LinkKind], str]
"""A signed download URL for a video or a pipeline id."""

_STEP = re.compile(r"^(?P<name>[a-z]+)-(?P<number>\d+)")
_STATES = {
    JobStatus.PENDING: "queued",
    JobStatus.QUEUED: "queued",
    JobStatus.IN_PROGRESS: "rendering",
    JobStatus.FETCHING: "fetching",
    JobStatus.COMPLETED: "done",
    JobStatus.FAILED: "failed",
    JobStatus.CANCELLED: "cancelled",
}


def takes_asked(body: Mapping[str, object]) -> int | None:
    """The body's `n` (OpenAI's number of choices, here the number of takes); None: not sent."""
    n = body.get("n")
    if n is None:
        return None
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= MAX_TAKES:
        raise InvalidRequestError(
            f"'n' must be a whole number from 1 to {MAX_TAKES}: the number of takes.", param="n"
        )
    return n


def takes_allowed(body: Mapping[str, object]) -> int:
    """The body's `max_takes`, sorakit's own field: the most takes a client lets one turn make
    (the Open WebUI pipe's variations valves), whether asked in words or by `n`."""
    most = body.get("max_takes")
    if most is None:
        return MAX_TAKES
    if isinstance(most, bool) or not isinstance(most, int) or not 1 <= most <= MAX_TAKES:
        raise InvalidRequestError(
            f"'max_takes' must be a whole number from 1 to {MAX_TAKES}.", param="max_takes"
        )
    return most


async def read_turn(
    messages: object,
    chosen: ChatModel,
    catalog: Catalog,
    settings: Settings,
    signer: LinkSigner,
    n: int | None,
    max_takes: int = MAX_TAKES,
) -> Turn:
    """The last user message as a turn for the chosen model (its name's length and shape are
    defaults), read by the chat model when one is set; `n` asks for takes (or images), never
    more than `max_takes`. A picture asked of a video model is made by the settings'
    `image_model`."""
    assert chosen.model is not None
    chat = turn_chat(settings)
    try:
        turn = await understand(
            messages,
            catalog=catalog,
            model=chosen.model,
            seconds=chosen.seconds,
            size=chosen.size,
            chat=chat,
            signer=signer,
            image_model=settings.image_model,
            max_takes=max_takes,
        )
    finally:
        if chat is not None:
            await chat.client.close()
    if turn.intent == "storyboard":
        parse_messages(messages)  # a storyboard is text alone: no images, no video id
    if n is not None and n > max_takes and turn.intent != "image":
        turn = replace(turn, notes=(*turn.notes, f"{_takes(max_takes)}, the most here (not {n})."))
        n = max_takes
    if n is None or n == 1 or turn.takes == n:
        return turn
    if turn.intent == "image":
        most = min(n, MAX_IMAGES_PER_REQUEST)
        note = f"{most} images, the most at once (not {n})." if most < n else None
        return replace(turn, takes=most, notes=(*turn.notes, note) if note else turn.notes)
    if turn.intent in ("generate", "variations"):
        note = f"{n} takes, as 'n' asked." if turn.takes > 1 else None
        notes = (*turn.notes, note) if note else turn.notes
        return replace(turn, intent="variations", takes=n, notes=notes)
    what = "long video" if turn.intent == "long" else turn.intent
    return replace(turn, notes=(*turn.notes, f"One {what}: 'n' ({n}) is not used for it."))


def _takes(count: int) -> str:
    return f"{count} take" if count == 1 else f"{count} takes"


def with_notes(text: str, notes: tuple[str, ...] | list[str]) -> str:
    """An answer's first line with the turn's notes after it, each a sentence."""
    said = [note if note.endswith((".", "!", "?")) else f"{note}." for note in notes if note]
    return " ".join([text, *said])


def enhancement_text(result: Enhancement) -> str:
    """The enhanced prompt; when nothing was rewritten, a sentence that says so and why."""
    if not result.note:
        return result.enhanced
    return f"{result.enhanced}\n\nThe prompt was not rewritten: {result.note}."


async def _reference(engine: Engine, principal: Principal, turn: Turn) -> str | None:
    """The first image as a file a pipeline can read again on resume (named by its content)."""
    if not turn.images and turn.made_image is None:
        return None
    data = (await turn_images(engine, principal, turn))[0]
    path = engine.settings.home / "chat" / "references" / f"{hashlib.sha256(data).hexdigest()}.img"

    def write() -> None:
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)

    await anyio.to_thread.run_sync(write)
    return str(path)


async def _admitted(
    engine: Engine, gatekeeper: Gatekeeper, principal: Principal, model: str
) -> int | None:
    """Admit the caller once for a pipeline (hold `gatekeeper.lock`): the slots its key has
    left, for the pipeline's parallelism (None: no limit)."""
    await gatekeeper.admit(principal, model)  # the request counts once for the rate
    key = principal.key
    if key is None or key.admin or key.concurrency is None:
        return None
    return max(1, key.concurrency - await engine.ledger.running_jobs(key.id))


async def _started(
    engine: Engine,
    renders: PipelineRenders,
    principal: Principal,
    gatekeeper: Gatekeeper,
    turn: Turn,
    record: Callable[[str | None, int | None], Awaitable[PipelineRecord]],
) -> PipelineRecord:
    """Admit the caller once, have `record` record the pipeline with the turn's first image and
    the parallelism the key allows, then start it."""
    reference = await _reference(engine, principal, turn)
    async with gatekeeper.lock(principal):
        pipeline = await record(
            reference, await _admitted(engine, gatekeeper, principal, turn.model)
        )
    renders.start(pipeline.id)
    return pipeline


async def start_takes(
    engine: Engine,
    renders: PipelineRenders,
    principal: Principal,
    gatekeeper: Gatekeeper,
    turn: Turn,
    prompt: str,
) -> PipelineRecord:
    """Record the variations for the caller's key and start them."""

    async def record(reference: str | None, parallel: int | None) -> PipelineRecord:
        request = VariationsRequest(
            prompt,
            count=turn.takes,
            model=turn.model,
            seconds=turn.seconds,
            size=turn.size,
            reference=reference,
            parallel=parallel,
            **owner_fields(principal.owner),
        )
        return await Variations(engine).start(request)

    return await _started(engine, renders, principal, gatekeeper, turn, record)


async def start_long(
    engine: Engine,
    renders: PipelineRenders,
    principal: Principal,
    gatekeeper: Gatekeeper,
    turn: Turn,
    prompt: str,
) -> PipelineRecord:
    """Record the long video for the caller's key and start it."""
    assert turn.seconds is not None
    seconds = turn.seconds

    async def record(reference: str | None, parallel: int | None) -> PipelineRecord:
        request = LongRequest(
            prompt,
            seconds,
            model=turn.model,
            size=turn.size,
            segments=len(turn.segments) or None,
            reference=reference,
            parallel=parallel,
            **owner_fields(principal.owner),
        )
        return await LongVideos(engine).start(request)

    return await _started(engine, renders, principal, gatekeeper, turn, record)


async def start_job(
    engine: Engine,
    principal: Principal,
    gatekeeper: Gatekeeper,
    turn: Turn,
    client_key: str | None,
) -> tuple[JobRecord, list[str]]:
    """Record the turn's job for the caller (not yet submitted), as the Videos API routes do;
    and the styles its prompt asked for."""
    prompt, styles = apply_styles(turn.prompt)
    if turn.intent in ("remix", "extend"):
        assert turn.video_id is not None
        source = await owned_video(engine, turn.video_id, principal)
        async with gatekeeper.lock(principal):
            await gatekeeper.admit(principal, source.model)
            if turn.intent == "remix":
                job = await engine.remix(
                    source.id, prompt, client_key=client_key, submit=False, owner=principal.owner
                )
            else:
                assert turn.seconds is not None
                job = await engine.extend(
                    source.id,
                    prompt,
                    turn.seconds,
                    snap=True,
                    client_key=client_key,
                    submit=False,
                    owner=principal.owner,
                )
        return job, styles
    images = await turn_images(engine, principal, turn)
    async with gatekeeper.lock(principal):
        await gatekeeper.admit(principal, turn.model)
        job = await engine.create(
            prompt,
            model=turn.model,
            seconds=turn.seconds,
            size=turn.size,
            reference=images[0] if images else None,
            reference_images=images[1:],
            snap=True,  # sora2api's names carry lengths and shapes our models may not have
            fit="crop",
            client_key=client_key,
            submit=False,
            owner=principal.owner,
        )
    return job, styles


async def owned_video(engine: Engine, video_id: str, principal: Principal) -> JobRecord:
    """A video the caller may see; another key's video is not found, as in the Videos API."""
    try:
        job = await engine.get(video_id)
    except NotFoundError:
        job = None
    if job is None or job.id != video_id or not principal.may_see(job.owner):
        raise NotFoundError(f"No video found with id '{video_id}'.", param="messages")
    return job


def job_intro(job: JobRecord, styles: list[str], notes: tuple[str, ...]) -> str:
    """The first words of the answer: what was made, and every choice not literally asked for.

    `Creating video ID with MODEL: S s, WxH.` is what `turns_history` reads back for "it"."""
    what = f"remix of {job.source_id}" if job.source_id and job.kind == "remix" else "video"
    seconds = f"{float(job.total_seconds):g}" if job.kind == "extend" else str(job.seconds)
    text = f"Creating {what} {job.id} with {job.model}: {seconds} s, {job.size}."
    if job.kind == "extend" and job.source_id:
        text += f" It continues {job.source_id} by {job.seconds} s."
    if styles:
        text += f" Styles: {', '.join(styles)}."
    if changes := job.options.get("changes"):
        text += f" Adjusted: {'; '.join(changes)}."
    return with_notes(text, notes)


def pipeline_intro(pipeline: PipelineRecord, turn: Turn, styles: list[str]) -> str:
    """The first words of a variations or long-video answer, with the turn's notes."""
    size = turn.size or "the image's shape"
    if pipeline.kind == "variations":
        text = (
            f"Creating {turn.takes} takes {pipeline.id} with {turn.model}: "
            f"{turn.seconds} s each, {size}."
        )
    else:
        parts = " + ".join(str(s) for s in turn.segments)
        text = (
            f"Creating long video {pipeline.id} with {turn.model}: {turn.seconds} s in "
            f"{len(turn.segments)} clips ({parts} s), {size}."
        )
    if styles:
        text += f" Styles: {', '.join(styles)}."
    return with_notes(text, [*turn.notes, *pipeline.spec.get("notes", [])])


async def pipeline_failure(
    engine: Engine, renders: PipelineRenders, pipeline: PipelineRecord
) -> SorakitError:
    """Why a pipeline has nothing to show: what its run here failed with, else its last failed
    job's error, else its own."""
    if (kept := renders.error(pipeline.id)) is not None:
        return kept
    failed = [
        job
        for job in await engine.ledger.pipeline_jobs(pipeline.id)
        if job.status in (JobStatus.FAILED, JobStatus.CANCELLED)
    ]
    if failed:
        return JobFailedError(failed[-1].id, failed[-1].error_code, failed[-1].error_message)
    return JobFailedError(pipeline.id, "failed", pipeline.error_message)


@dataclass
class PipelineWatch:
    """Variations or a long video as a chat answer waits on it, read from the ledger."""

    engine: Engine
    renders: PipelineRenders
    id: str
    kind: LinkKind = "pipeline"

    async def _steps(self) -> dict[str, JobRecord]:
        latest: dict[str, JobRecord] = {}
        for job in await self.engine.ledger.pipeline_jobs(self.id):  # oldest first: retries win
            match = _STEP.match(job.pipeline_step or "")
            if match:
                latest[f"{match.group('name')} {match.group('number')}"] = job
        return latest

    async def poll(self) -> tuple[bool, dict[str, str]]:
        """Whether it has finished, and a progress line per take or clip."""
        pipeline = await self.engine.ledger.get_pipeline(self.id)
        if pipeline.status is not PipelineStatus.RUNNING:
            return True, {}
        lines = {}
        for step, job in (await self._steps()).items():
            state = _STATES[job.status]
            if job.status is JobStatus.IN_PROGRESS:
                state += f" {job.progress}%"
            lines[step] = f"{step}: {state}"
        return False, lines

    async def _takes(self) -> list[tuple[str, JobRecord]]:
        return [
            (step, job)
            for step, job in (await self._steps()).items()
            if step.startswith("take ") and job.status is JobStatus.COMPLETED
        ]

    async def outcome(self) -> None:
        """Nothing when there is something to show (a take, the long video); else why not."""
        pipeline = await self.engine.ledger.get_pipeline(self.id)
        if pipeline.kind == "variations" and await self._takes():
            return  # the failed takes are named in the answer, the finished ones linked
        if pipeline.status is PipelineStatus.COMPLETED and pipeline.output:
            return
        raise await pipeline_failure(self.engine, self.renders, pipeline)

    async def ready(self, link: LinkFor) -> str:
        """The final message: the long video, or each take, as a link and a player."""
        pipeline = await self.engine.ledger.get_pipeline(self.id)
        if pipeline.kind != "variations":
            return ready_text("long video", self.id, link(self.id, "pipeline"))
        takes = await self._takes()
        lines = [f"Your {len(takes)} takes are ready (the links work for 24 hours):"]
        for step, job in takes:
            url = link(job.id, "video")
            lines.append(f"- {step.capitalize()}: [{job.id}.mp4]({url})")
        failed = [
            step
            for step, job in (await self._steps()).items()
            if job.status in (JobStatus.FAILED, JobStatus.CANCELLED)
        ]
        if failed:
            lines.append(f"Failed: {', '.join(failed)} ({pipeline.error_message or 'see logs'}).")
        players = "\n".join(
            f'<video src="{html.escape(link(job.id, "video"))}" controls></video>'
            for _, job in takes
        )
        return "\n".join(lines) + "\n\n" + players

    def too_long(self, waited: float) -> SorakitError:
        exc = JobTimeoutError(self.id, waited)
        exc.message = (
            f"{self.id} is still rendering after {waited:g} s; it goes on, and GET /v1/videos "
            "lists its videos."
        )
        return exc


def ready_text(what: str, work_id: str, link: str) -> str:
    """A Markdown link and an HTML embed of a signed URL."""
    return (
        f"Your {what} is ready: [{work_id}.mp4]({link}) (the link works for 24 hours).\n\n"
        f'<video src="{html.escape(link)}" controls></video>'
    )
