"""Long videos: a total length split into segments, planned, rendered with continuity, stitched.

A long video is a pipeline row whose segments are child jobs. Each segment is a named step
(`segment-3`), and creating a step that exists returns its job, so running the pipeline again
after a crash or a failed segment (`sorakit jobs resume`) tracks what is in flight, reuses what
finished, and pays only for what is missing. Everything is checked and priced before the first
job is sent: an impossible total is refused with the nearest possible ones.

Continuity modes:

- `chain`: each segment starts from the previous segment's exact last frame (fitted to the
  size). The shared frame appears once in the stitched video.
- `extend`: the provider's own extension continues the previous video; the last job holds it all.
- `keyframes`: a start image per segment is drawn first (an image job each, priced and budgeted
  with the segments: `pipelines.keyframes`), so every segment renders at once; a model that
  takes a last frame also ends each segment on the next one's keyframe.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

import anyio

from sorakit.catalog import ModelEntry
from sorakit.engine import Engine
from sorakit.engine.planning import planned_size
from sorakit.engine.runner import ProgressCallback
from sorakit.errors import InvalidRequestError, JobFailedError
from sorakit.ledger import JobRecord, PipelineRecord, PipelineStatus
from sorakit.pipelines.keyframes import keyframe_model, keyframes_cost
from sorakit.pipelines.plan_wording import Continuity as Continuity  # re-exported for callers
from sorakit.pipelines.planner import Plan, PlannerMode, plan_segments
from sorakit.pipelines.segment_run import SegmentRun
from sorakit.pipelines.segments import split_seconds
from sorakit.pipelines.steps import (
    check_budget,
    check_owner_budget,
    new_pipeline_id,
    owner_of,
    pipeline_folder,
    record_pipeline,
)
from sorakit.pipelines.styles import apply_styles

if TYPE_CHECKING:
    from sorakit.pipelines.resume import Resumed

logger = logging.getLogger(__name__)

KIND = "long"


@dataclass
class LongRequest:
    """What a user asks for; stored in the pipeline row so a resume needs nothing else."""

    prompt: str
    seconds: int
    model: str = "sora-2"
    size: str | None = None
    segments: int | None = None
    """Exactly this many segments; the fewest by default."""
    mode: Continuity = "chain"
    crossfade: float = 0.0
    """Seconds of crossfade at each seam (0: a clean cut)."""
    reference: str | None = None
    """An image the first segment starts from."""
    planner: PlannerMode | None = None
    plan_file: str | None = None
    """A saved (perhaps edited) plan to use instead of planning."""
    budget_usd: float | None = None
    out: str | None = None
    """The folder to write into (a folder per pipeline is made inside it)."""
    enhance: str | None = None
    """Rewrite the prompt in this style (`director`, `pixar`, `clean`) before planning."""
    owner: str | None = None
    """The gateway API key the steps are made for (they are its videos, on its budget)."""
    owner_budget_usd: float | None = None
    """That key's budget when the pipeline was asked for; the whole estimate must fit in it."""
    owner_sees_all: bool = False
    """That key is the admin key (`Owner.sees_all`), kept so a resume keeps its rights."""
    owner_scope_id: str | None = None
    """The project (budget scope) the steps count against; None: no project."""
    owner_scope_budget_usd: float | None = None
    """That project's cap; the whole estimate must fit in it too."""
    parallel: int | None = None
    """Segments rendering at once in keyframes mode (None: every one), e.g. the concurrency an
    API key has left."""
    image_model: str | None = None
    """The image model drawing the keyframes (None: `keyframe_model`'s choice, which `start`
    records here so a resume draws with the same)."""


@dataclass
class LongVideo:
    """A finished (or stopped) long video and where its parts are."""

    pipeline: PipelineRecord
    folder: Path
    video: Path | None
    segments: list[JobRecord]
    plan: Plan
    notes: list[str] = field(default_factory=list)
    keyframes: list[JobRecord] = field(default_factory=list)
    """The keyframe image jobs (keyframes mode), which are paid for with the segments."""


class LongVideos:
    """Plans, runs and resumes long-video pipelines on an engine."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # planning

    def lengths(self, request: LongRequest) -> tuple[ModelEntry, list[int]]:
        """The model and the segment lengths; impossible totals are refused here, before paying."""
        entry, _ = self.engine.catalog.route(request.model)
        caps = entry.capabilities
        if request.seconds <= 0:
            raise InvalidRequestError("the total length must be positive", param="seconds")
        if request.mode == "extend":
            return entry, self._extension_lengths(entry, request)
        lengths = split_seconds(request.seconds, caps.seconds, count=request.segments)
        if request.mode == "keyframes":
            keyframe_model(self.engine, entry, request.image_model)  # refused before planning
        return entry, lengths

    def _extension_lengths(self, entry: ModelEntry, request: LongRequest) -> list[int]:
        caps = entry.capabilities
        if not caps.extension:
            raise InvalidRequestError(
                f"{entry.name} has no extension; use --mode chain (last-frame chaining) instead",
                param="mode",
            )
        if caps.max_total_seconds and request.seconds > caps.max_total_seconds:
            raise InvalidRequestError(
                f"{entry.name} videos grow to at most {caps.max_total_seconds} s by extension; "
                f"{request.seconds} s needs --mode chain",
                param="seconds",
            )
        best: list[int] | None = None
        for first in sorted(caps.seconds, reverse=True):
            if first > request.seconds:
                continue
            rest: list[int] = []
            if first < request.seconds:
                try:
                    rest = split_seconds(request.seconds - first, caps.for_extension().seconds)
                except InvalidRequestError:
                    continue
            candidate = [first, *rest]
            if request.segments is not None and len(candidate) != request.segments:
                continue
            if best is None or len(candidate) < len(best):
                best = candidate
        if best is None:
            raise InvalidRequestError(
                f"{request.seconds} s cannot be made from a first clip of "
                f"{', '.join(map(str, caps.seconds))} s and extensions of "
                f"{', '.join(map(str, caps.for_extension().seconds))} s"
                + (f" in {request.segments} segments" if request.segments else ""),
                param="seconds",
            )
        if len(best) - 1 > caps.max_extensions:
            raise InvalidRequestError(
                f"{request.seconds} s needs {len(best) - 1} extensions; {entry.name} allows "
                f"{caps.max_extensions}",
                param="seconds",
            )
        return best

    async def plan(self, request: LongRequest) -> Plan:
        """The segment plan: the given plan file (checked), or a new one from the planner."""
        entry, lengths = self.lengths(request)
        if request.plan_file:
            path = Path(request.plan_file)
            plan = await anyio.to_thread.run_sync(lambda: Plan.load(path, seconds=lengths))
        else:
            prompt, styles = apply_styles(request.prompt)  # `{anime}` etc. reach every segment
            plan = await plan_segments(
                prompt,
                lengths,
                settings=self.engine.settings,
                mode=request.planner,
                continuity=request.mode,
            )
            if styles:
                plan.notes.append(f"styles applied to every segment: {', '.join(styles)}")
        if request.mode == "keyframes":
            note = self._keyframes_note(request, entry, len(lengths))
            if note not in plan.notes:  # a saved plan may say it already
                plan.notes.append(note)
        return plan

    def estimate(self, request: LongRequest) -> float | None:
        """The list price of every segment (and keyframe image) together, or None where a
        price is unknown."""
        entry, lengths = self.lengths(request)
        size = planned_size(request.size, entry)
        prices = [entry.capabilities.price(size, seconds) for seconds in lengths]
        if request.mode == "keyframes":
            prices.append(self.keyframes_cost(request, entry, len(lengths)))
        return None if any(p is None for p in prices) else round(sum(p or 0 for p in prices), 6)

    def keyframes_cost(self, request: LongRequest, entry: ModelEntry, count: int) -> float | None:
        """The list price of the keyframe images (none for a first frame the user gave)."""
        image = keyframe_model(self.engine, entry, request.image_model)
        drawn = count - (1 if request.reference else 0)
        return keyframes_cost(image, planned_size(request.size, entry, "image"), drawn)

    def _keyframes_note(self, request: LongRequest, entry: ModelEntry, count: int) -> str:
        """What a keyframes plan draws before any video, and its price, said with the plan."""
        image = keyframe_model(self.engine, entry, request.image_model)
        drawn = count - (1 if request.reference else 0)
        cost = self.keyframes_cost(request, entry, count)
        price = "price unknown" if cost is None else f"${cost:.2f}"
        return (
            f"keyframes: {drawn} start image{'s' if drawn != 1 else ''} drawn first with "
            f"{image.name} ({price}, in the estimate)"
        )

    async def check_budget(self, request: LongRequest) -> None:
        """Refuse a long video whose segments together would pass a budget, before planning."""
        estimate, what = self.estimate(request), f"the {request.seconds} s video"
        await check_budget(self.engine, estimate, request.budget_usd, what)
        await check_owner_budget(self.engine, owner_of(request), estimate, what)

    async def start(self, request: LongRequest) -> PipelineRecord:
        """Check, plan, save the plan, and record the pipeline; nothing is paid for yet."""
        await self.check_budget(request)
        if request.mode == "keyframes":  # recorded, so a resume draws with the same model
            entry, _ = self.engine.catalog.route(request.model)
            image = keyframe_model(self.engine, entry, request.image_model)
            request = replace(request, image_model=image.name)
        enhanced = None
        if request.enhance and not request.plan_file:
            from sorakit.pipelines.enhance import enhance_prompt

            prompt, _ = apply_styles(request.prompt)
            result = await enhance_prompt(prompt, request.enhance, settings=self.engine.settings)
            enhanced = {**result.record(), "original": request.prompt}
            # Braces doubled: the rewrite is not read for `{style}` tags again.
            escaped = result.enhanced.replace("{", "{{").replace("}", "}}")
            request = replace(request, prompt=escaped)
        plan = await self.plan(request)
        if enhanced and enhanced["note"]:
            plan.notes.append(str(enhanced["note"]))
        pipeline_id = new_pipeline_id(KIND)
        folder = pipeline_folder(self.engine, request.out, pipeline_id)
        await anyio.to_thread.run_sync(lambda: plan.save(folder / "plan.json"))
        return await record_pipeline(
            self.engine,
            models=[request.model],
            id=pipeline_id,
            kind=KIND,
            title=plan.title,
            spec={
                "request": asdict(request),
                "plan": plan.model_dump(),
                "folder": str(folder),
                "enhanced": enhanced,
            },
            budget_usd=request.budget_usd,
        )

    # running

    async def generate(
        self, request: LongRequest, on_progress: ProgressCallback | None = None
    ) -> LongVideo:
        """Start a long video and run it to the end."""
        return await self.run((await self.start(request)).id, on_progress)

    async def run(self, pipeline_id: str, on_progress: ProgressCallback | None = None) -> LongVideo:
        """Run (or resume) a long video: finished segments are reused, never paid for again."""
        pipeline = await self.engine.ledger.get_pipeline(pipeline_id)
        request = LongRequest(**pipeline.spec["request"])
        plan = Plan.model_validate(pipeline.spec["plan"])
        folder = Path(pipeline.spec["folder"])
        if pipeline.status is not PipelineStatus.RUNNING:
            pipeline = await self.engine.ledger.update_pipeline(
                pipeline_id, status=PipelineStatus.RUNNING, error_message=None
            )
        segments = SegmentRun(self.engine, pipeline, request, plan, folder, on_progress)
        try:
            if request.mode == "extend":
                jobs = await segments.extend()
            elif request.mode == "keyframes":
                jobs = await segments.keyframes()
            else:
                jobs = await segments.chain()
            video = await segments.stitch(jobs)
        except JobFailedError as exc:
            await self.engine.ledger.update_pipeline(
                pipeline_id,
                status=PipelineStatus.FAILED,
                error_message=str(exc),
                state={"notes": segments.notes},
            )
            raise
        pipeline = await self.engine.ledger.update_pipeline(
            pipeline_id,
            status=PipelineStatus.COMPLETED,
            output=str(video),
            state={"notes": segments.notes},
        )
        return LongVideo(
            pipeline, folder, video, jobs, plan, segments.notes, segments.keyframe_jobs
        )

    async def resume(
        self, pipeline_id: str, on_progress: ProgressCallback | None = None
    ) -> Resumed:
        """`run`, in the shape `resume_pipelines` expects."""
        from sorakit.pipelines.resume import Resumed

        video = await self.run(pipeline_id, on_progress)
        return Resumed(video.pipeline, str(video.video) if video.video else None)
