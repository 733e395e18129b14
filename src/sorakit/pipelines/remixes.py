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

from sorakit.engine import Engine, Step
from sorakit.engine.planning import planned_size
from sorakit.engine.runner import ProgressCallback
from sorakit.errors import InvalidRequestError, SorakitError
from sorakit.ledger import JobRecord, JobStatus, PipelineRecord
from sorakit.pipelines.steps import (
    Seam,
    StepRunner,
    check_budget,
    copy_file,
    join,
    new_pipeline_id,
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
        if request.base_is_video:
            source = await self.engine.ledger.get(request.base.strip())
            if source.status is not JobStatus.COMPLETED:
                raise InvalidRequestError(
                    f"video {source.id} is {source.status.value}; a chain starts from a "
                    "completed video",
                    param="base",
                )
            entry = self.engine.catalog.serving(
                source.provider, source.provider_model, source.model
            )
            size, seconds = source.size, int(float(source.total_seconds))
            count = len(request.steps)
            title = f"remixes of {source.id}"
        else:
            entry, _ = self.engine.catalog.route(request.model)
            size = planned_size(request.size, entry)
            seconds = request.seconds or entry.capabilities.default_seconds
            count = len(request.steps) + 1
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
        if not entry.capabilities.remix:
            raise InvalidRequestError(f"{entry.name} does not support remixes.", param="model")
        price = entry.capabilities.price(size, seconds)
        await check_budget(
            self.engine,
            None if price is None else price * count,
            request.budget_usd,
            f"the chain of {count} videos",
        )
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
        engine = self.engine
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
                    )

                base = await runner.step("base", make_base)
            remixes: list[JobRecord] = []
            for number, text in enumerate(request.steps, start=1):
                previous = remixes[-1] if remixes else base

                async def make(
                    step: Step, source: str = previous.id, prompt: str = text
                ) -> JobRecord:
                    return await engine.remix(source, prompt, step=step)

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
