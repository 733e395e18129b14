"""Remix chains: a base clip, then remix after remix, each made from the previous result.

The base is a new video from a prompt (the pipeline's `base` step) or a completed video already in
the ledger. Every remix is a step (`remix-1`, `remix-2`, …) of the pipeline row, so a resume after
a crash or a failed remix pays only for the remixes still missing. The clips land in one folder
(`clips/00.mp4` is the base); with `stitch` they are also joined, base first, into `video.mp4`.
"""

from __future__ import annotations

import logging
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio

from sorakit.catalog import ModelEntry
from sorakit.engine import Engine, Step
from sorakit.engine.planning import planned_size
from sorakit.engine.runner import ProgressCallback
from sorakit.errors import InvalidRequestError, NotFoundError, SorakitError
from sorakit.ledger import JobRecord, JobStatus, PipelineRecord
from sorakit.pipelines.steps import (
    Seam,
    StepRunner,
    check_budget,
    check_owner_budget,
    copy_file,
    join,
    new_pipeline_id,
    owner_of,
    pipeline_folder,
    record_pipeline,
    write_json,
)
from sorakit.pipelines.styles import apply_styles

if TYPE_CHECKING:
    from sorakit.pipelines.resume import Resumed

logger = logging.getLogger(__name__)

KIND = "remix_chain"
_VIDEO_ID = re.compile(r"^video_[0-9a-f]{32}$")


@dataclass
class RemixChainRequest:
    """What a user asks for; stored in the pipeline row so a resume needs nothing else."""

    base: str
    """A prompt for the base clip, or the id of a completed video to start from."""
    steps: list[str]
    """One remix prompt per step, applied in order."""
    model: str = "sora-2"
    seconds: int | None = None
    size: str | None = None
    stitch: bool = False
    """Also join the base and every remix, in order, into one video."""
    crossfade: float = 0.0
    enhance: str | None = None
    """Rewrite the base prompt in this style (`director`, `pixar`, `clean`) first."""
    budget_usd: float | None = None
    out: str | None = None
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

    @property
    def base_is_video(self) -> bool:
        return bool(_VIDEO_ID.match(self.base.strip()))


@dataclass
class RemixChain:
    """A finished remix chain: the base, the remixes, and where they are."""

    pipeline: PipelineRecord
    folder: Path
    base: JobRecord
    remixes: list[JobRecord]
    clips: list[Path]
    video: Path | None
    """The stitched video, when asked for."""
    notes: list[str] = field(default_factory=list)

    @property
    def output(self) -> Path:
        """The stitched video, or else the last remix."""
        return self.video or self.clips[-1]


@dataclass(frozen=True)
class _Clips:
    """The clips a chain makes: on which model, how many, and the price of each."""

    entry: ModelEntry
    count: int
    price: float | None

    @property
    def estimate(self) -> float | None:
        return None if self.price is None else round(self.price * self.count, 6)


class RemixChains:
    """Starts, runs and resumes remix chains on an engine."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    async def start(self, request: RemixChainRequest) -> PipelineRecord:
        """Check everything (the base, the model's remixes, the budget) and record the pipeline."""
        if not request.steps:
            raise InvalidRequestError("give at least one remix step", param="steps")
        for text in request.steps:
            if not text.strip():
                raise InvalidRequestError("a remix step's prompt is empty", param="steps")
        spec: dict[str, Any] = {"request": asdict(request), "notes": []}
        source = await self._source(request)
        clips = self._clips(request, source)
        if not clips.entry.capabilities.remix:
            raise InvalidRequestError(
                f"{clips.entry.name} does not support remixes.", param="model"
            )
        estimate, what = clips.estimate, f"the chain of {clips.count} videos"
        await check_budget(self.engine, estimate, request.budget_usd, what)
        await check_owner_budget(self.engine, owner_of(request), estimate, what)
        if source is not None:
            title = f"remixes of {source.id}"
        else:
            prompt, _styles = apply_styles(request.base)
            if request.enhance:
                from sorakit.pipelines.enhance import enhance_prompt

                result = await enhance_prompt(
                    prompt, request.enhance, settings=self.engine.settings
                )
                spec["enhanced"] = result.record()
                prompt = result.enhanced
                if result.note:
                    spec["notes"].append(result.note)
            spec["prompt"] = prompt
            title = prompt[:80]
        pipeline_id = new_pipeline_id(KIND)
        spec["folder"] = str(pipeline_folder(self.engine, request.out, pipeline_id))
        return await record_pipeline(
            self.engine,
            models=[] if request.base_is_video else [request.model],  # remixes go where sources are
            id=pipeline_id,
            kind=KIND,
            title=title,
            spec=spec,
            budget_usd=request.budget_usd,
        )

    async def estimate(self, request: RemixChainRequest) -> float | None:
        """The list price of every clip the chain makes (the base, when it is made, and each
        remix), or None where a price is unknown; what `start` checks against the budgets."""
        return self._clips(request, await self._source(request)).estimate

    async def _source(self, request: RemixChainRequest) -> JobRecord | None:
        """The completed video the chain starts from (None: a base made from a prompt)."""
        if not request.base_is_video:
            return None
        source = await self.engine.ledger.get(request.base.strip())
        owner = owner_of(request)
        if owner is not None and not owner.sees_all and source.owner != owner.key_id:
            # Another key's video is not found, as in the Videos API.
            raise NotFoundError(f"No video found with id '{source.id}'.", param="base")
        if source.status is not JobStatus.COMPLETED:
            raise InvalidRequestError(
                f"video {source.id} is {source.status.value}; a chain starts from a "
                "completed video",
                param="base",
            )
        return source

    def _clips(self, request: RemixChainRequest, source: JobRecord | None) -> _Clips:
        """The model the chain's clips are made on, and what they cost: every remix at the
        source's size and length, or the base and each remix at the planned ones."""
        if source is not None:
            entry = self.engine.catalog.serving(
                source.provider, source.provider_model, source.model
            )
            size, seconds = source.size, int(float(source.total_seconds))
            count = len(request.steps)
        else:
            entry, _ = self.engine.catalog.route(request.model)
            size = planned_size(request.size, entry)
            seconds = request.seconds or entry.capabilities.default_seconds
            count = len(request.steps) + 1
        return _Clips(entry, count, entry.capabilities.price(size, seconds))

    async def generate(
        self, request: RemixChainRequest, on_progress: ProgressCallback | None = None
    ) -> RemixChain:
        """Start a remix chain and run it to the end."""
        return await self.run((await self.start(request)).id, on_progress)

    async def run(
        self, pipeline_id: str, on_progress: ProgressCallback | None = None
    ) -> RemixChain:
        """Run (or resume) a chain: finished clips are reused, never paid for again."""
        pipeline = await self.engine.ledger.get_pipeline(pipeline_id)
        request = RemixChainRequest(**pipeline.spec["request"])
        folder = Path(pipeline.spec["folder"])
        runner = StepRunner(self.engine, pipeline, on_progress)
        await runner.begin()
        engine, owner = self.engine, owner_of(pipeline.spec)
        try:
            if request.base_is_video:
                base = await engine.ledger.get(request.base.strip())
            else:

                async def make_base(step: Step) -> JobRecord:
                    return await engine.create(
                        pipeline.spec["prompt"],
                        model=request.model,
                        seconds=request.seconds,
                        size=request.size,
                        snap=True,
                        step=step,
                        owner=owner,
                    )

                base = await runner.step("base", make_base)
            remixes: list[JobRecord] = []
            for number, text in enumerate(request.steps, start=1):
                previous = remixes[-1] if remixes else base

                async def make(
                    step: Step, source: str = previous.id, prompt: str = text
                ) -> JobRecord:
                    return await engine.remix(source, prompt, step=step, owner=owner)

                remixes.append(await runner.step(f"remix-{number}", make))
            clips, video = await self._finish(request, folder, [base, *remixes])
        except SorakitError as exc:
            await runner.finish(None, str(exc))
            raise
        pipeline = await runner.finish(video or clips[-1])
        return RemixChain(pipeline, folder, base, remixes, clips, video, runner.notes)

    async def resume(
        self, pipeline_id: str, on_progress: ProgressCallback | None = None
    ) -> Resumed:
        """`run`, in the shape `resume_pipelines` expects."""
        from sorakit.pipelines.resume import Resumed

        chain = await self.run(pipeline_id, on_progress)
        return Resumed(chain.pipeline, str(chain.output))

    async def _finish(
        self, request: RemixChainRequest, folder: Path, jobs: list[JobRecord]
    ) -> tuple[list[Path], Path | None]:
        def work() -> tuple[list[Path], Path | None]:
            clips = []
            for number, job in enumerate(jobs):
                assert job.video_path is not None
                target = folder / "clips" / f"{number:02d}.mp4"
                copy_file(Path(job.video_path), target)
                clips.append(target)
            write_json(
                folder / "chain.json",
                {
                    "base": request.base,
                    "steps": request.steps,
                    "videos": [job.id for job in jobs],
                    "prompts": [job.prompt for job in jobs],
                },
            )
            if not request.stitch:
                return clips, None
            video = folder / "video.mp4"
            join(clips, [Seam(crossfade=request.crossfade)] * (len(clips) - 1), video)
            return clips, video

        return await anyio.to_thread.run_sync(work)
