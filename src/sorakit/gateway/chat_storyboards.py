"""Storyboards through chat completions: sora2api's `[5s] … [8s] …` text, rendered shot by shot.

The chat route plans the storyboard for the caller's key (its shots are that key's videos, each on
that key's budget), records the pipeline, and runs it in a task of this process
(`PipelineRenders`), so a client that goes away leaves it running. The answer watches the
ledger as it does for one video (`StoryboardWatch`): a line per shot whenever it changes, then
the stitched MP4, which only a signed `pipeline` link serves (it is no job of any key's).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sorakit.engine import Engine
from sorakit.errors import JobTimeoutError, NotFoundError, SorakitError
from sorakit.gateway.auth import Gatekeeper, Principal
from sorakit.gateway.chat_models import ChatModel, ChatRequest
from sorakit.gateway.chat_turns import pipeline_failure
from sorakit.gateway.links import LinkKind
from sorakit.gateway.pipeline_renders import PipelineRenders
from sorakit.ledger import JobRecord, JobStatus, PipelineRecord, PipelineStatus
from sorakit.pipelines.shots import StoryboardRequest, Storyboards
from sorakit.pipelines.steps import owner_fields

logger = logging.getLogger(__name__)

_STEP = re.compile(r"^shot-(\d+)(?:-described)?(?:#\d+)?$")
_STATES = {
    JobStatus.PENDING: "queued",
    JobStatus.QUEUED: "queued",
    JobStatus.FETCHING: "fetching",
    JobStatus.COMPLETED: "done",
    JobStatus.FAILED: "failed",
    JobStatus.CANCELLED: "cancelled",
}


async def start_storyboard(
    engine: Engine,
    renders: PipelineRenders,
    principal: Principal,
    gatekeeper: Gatekeeper,
    chosen: ChatModel,
    asked: ChatRequest,
) -> PipelineRecord:
    """Plan and record the storyboard for the caller, then start it; every refusal comes first.

    The model name's orientation picks the size; the `[Ns]` tags pick each shot's length (the
    planner snaps them), so a length in the model name is not used.
    """
    assert chosen.model is not None
    key = principal.key
    request = StoryboardRequest(
        asked.text,
        model=chosen.model,
        size=chosen.size,
        text_only=True,
        **owner_fields(principal.owner),
    )
    async with gatekeeper.lock(principal):
        await gatekeeper.admit(principal, chosen.model)  # the request counts once for the rate
        if key is not None and not key.admin and key.concurrency is not None:
            # The shots take turns in the slots the key has left, never more than its limit.
            running = await engine.ledger.running_jobs(key.id)
            request.parallel = max(1, key.concurrency - running)
        pipeline = await Storyboards(engine).start(request)
    renders.start(pipeline.id)
    return pipeline


def storyboard_intro(pipeline: PipelineRecord, chosen: ChatModel, asked: ChatRequest) -> str:
    """The first words of the answer: the shots, their lengths, and what planning changed."""
    shots: list[Mapping[str, Any]] = pipeline.spec["shots"]
    first = shots[0]
    lengths = ", ".join(f"{shot['trim_to']:g} s" for shot in shots)
    text = (
        f"Creating storyboard {pipeline.id} with {first['model']}: {len(shots)} shots "
        f"({lengths}), {pipeline.spec['seconds']:g} s in all, {first['size']}."
    )
    if asked.styles:
        text += f" Styles: {', '.join(asked.styles)}."
    changes = list(pipeline.spec.get("notes", []))
    if chosen.seconds is not None:
        changes.insert(0, f"the shots' own lengths replace the model name's {chosen.seconds} s")
    if changes:
        text += f" Adjusted: {'; '.join(changes)}."
    return text


def _shot_number(job: JobRecord) -> int | None:
    match = _STEP.match(job.pipeline_step or "")
    return int(match.group(1)) if match else None


def _state(job: JobRecord | None) -> str:
    if job is None:
        return "waiting"  # a continuing shot waits for the last frame of the one before
    if job.status is JobStatus.IN_PROGRESS:
        return f"rendering {job.progress}%"
    return _STATES[job.status]


@dataclass
class StoryboardWatch:
    """A storyboard as a chat answer waits on it, read from the ledger."""

    engine: Engine
    renders: PipelineRenders
    id: str
    shots: int
    kind: LinkKind = "pipeline"

    async def poll(self) -> tuple[bool, dict[str, str]]:
        """Whether it has finished, and a progress line per shot (then one for stitching)."""
        pipeline = await self.engine.ledger.get_pipeline(self.id)
        if pipeline.status is not PipelineStatus.RUNNING:
            return True, {}
        latest: dict[int, JobRecord] = {}
        for job in await self.engine.ledger.pipeline_jobs(self.id):  # oldest first: retries win
            if (number := _shot_number(job)) is not None:
                latest[number] = job
        lines = {
            f"shot-{n}": f"shot {n}/{self.shots} {_state(latest.get(n))}"
            for n in range(1, self.shots + 1)
        }
        done = [job for job in latest.values() if job.status is JobStatus.COMPLETED]
        if len(done) == self.shots:
            lines["stitch"] = f"stitching {self.shots} shots…"
        return False, lines

    async def outcome(self) -> None:
        """Nothing when the stitched video is there; else why not, as an error."""
        pipeline = await self.engine.ledger.get_pipeline(self.id)
        if pipeline.status is PipelineStatus.COMPLETED and pipeline.output:
            return
        raise await pipeline_failure(self.engine, self.renders, pipeline)

    def too_long(self, waited: float) -> SorakitError:
        exc = JobTimeoutError(self.id, waited)
        exc.message = (
            f"Storyboard {self.id} is still rendering after {waited:g} s; it goes on, and "
            "GET /v1/videos lists its shots."
        )
        return exc


async def pipeline_video(engine: Engine, pipeline_id: str) -> Path:
    """The stitched video of a finished pipeline; NotFoundError while there is none."""
    try:
        pipeline = await engine.ledger.get_pipeline(pipeline_id)
    except NotFoundError:
        pipeline = None
    output = Path(pipeline.output) if pipeline is not None and pipeline.output else None
    if (
        pipeline is None
        or pipeline.status is not PipelineStatus.COMPLETED
        or output is None
        or output.suffix != ".mp4"
        or not output.is_file()
    ):
        raise NotFoundError(
            f"Storyboard {pipeline_id} has no video to download.", param="pipeline_id"
        )
    return output
