"""Variations: N takes of one prompt, rendered at once; a failed take never discards the others.

Each take is a step (`take-1`, `take-2`, …) of the pipeline row. The takes that finish are copied
into the folder (`takes/01.mp4`, …) with a contact sheet of their middle frames (`contact.png`,
in take order) however many failed. A pipeline with a failed take ends `failed`, its finished
takes kept, so `sorakit jobs resume` renders only the missing takes again.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio

from sorakit.catalog.capabilities import request_mode
from sorakit.engine import Engine, Step
from sorakit.engine.planning import planned_size
from sorakit.engine.runner import ProgressCallback
from sorakit.errors import InvalidRequestError, SorakitError
from sorakit.ledger import JobRecord, PipelineRecord
from sorakit.pipelines.steps import (
    StepRunner,
    check_budget,
    check_owner_budget,
    copy_file,
    new_pipeline_id,
    owner_of,
    pipeline_folder,
    record_pipeline,
)
from sorakit.pipelines.styles import apply_styles

if TYPE_CHECKING:
    from sorakit.pipelines.resume import Resumed

logger = logging.getLogger(__name__)

KIND = "variations"
MAX_TAKES = 16


@dataclass
class VariationsRequest:
    """What a user asks for; stored in the pipeline row so a resume needs nothing else."""

    prompt: str
    count: int = 4
    model: str = "sora-2"
    seconds: int | None = None
    size: str | None = None
    reference: str | None = None
    """An image every take starts from."""
    enhance: str | None = None
    """Rewrite the prompt in this style (`director`, `pixar`, `clean`) once, for every take."""
    budget_usd: float | None = None
    out: str | None = None
    parallel: int | None = None
    """Takes rendering at once (None: every take), e.g. the concurrency an API key has left."""
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


@dataclass
class Takes:
    """The takes that finished (in take order), the ones that failed and why, and the sheet."""

    pipeline: PipelineRecord
    folder: Path
    takes: dict[int, JobRecord]
    """Take number (from 1) -> its finished job."""
    failed: dict[int, str]
    """Take number -> why it failed."""
    videos: list[Path]
    sheet: Path | None
    notes: list[str] = field(default_factory=list)


class Variations:
    """Starts, runs and resumes variations pipelines on an engine."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    async def start(self, request: VariationsRequest) -> PipelineRecord:
        """Check the count and the budget, enhance the prompt, record the pipeline."""
        if not 1 <= request.count <= MAX_TAKES:
            raise InvalidRequestError(
                f"the number of takes must be 1 to {MAX_TAKES}, got {request.count}", param="n"
            )
        entry, _ = self.engine.catalog.route(request.model)
        price = entry.capabilities.price(
            planned_size(request.size, entry, request_mode(first_frame=bool(request.reference))),
            request.seconds or entry.capabilities.default_seconds,
        )
        estimate, what = None if price is None else price * request.count, f"{request.count} takes"
        await check_budget(self.engine, estimate, request.budget_usd, what)
        await check_owner_budget(self.engine, owner_of(request), estimate, what)
        prompt, _styles = apply_styles(request.prompt)
        spec: dict[str, Any] = {"request": asdict(request), "notes": []}
        if request.enhance:
            from sorakit.pipelines.enhance import enhance_prompt

            result = await enhance_prompt(prompt, request.enhance, settings=self.engine.settings)
            spec["enhanced"] = result.record()
            prompt = result.enhanced
            if result.note:
                spec["notes"].append(result.note)
        pipeline_id = new_pipeline_id(KIND)
        spec["prompt"] = prompt
        spec["folder"] = str(pipeline_folder(self.engine, request.out, pipeline_id))
        return await record_pipeline(
            self.engine,
            models=[request.model],
            id=pipeline_id,
            kind=KIND,
            title=prompt[:80],
            spec=spec,
            budget_usd=request.budget_usd,
        )

    async def generate(
        self, request: VariationsRequest, on_progress: ProgressCallback | None = None
    ) -> Takes:
        """Start the takes and run them all to their ends."""
        return await self.run((await self.start(request)).id, on_progress)

    async def run(self, pipeline_id: str, on_progress: ProgressCallback | None = None) -> Takes:
        """Run (or resume) every take; raises (the first take's error) only when none finished."""
        pipeline = await self.engine.ledger.get_pipeline(pipeline_id)
        request = VariationsRequest(**pipeline.spec["request"])
        folder = Path(pipeline.spec["folder"])
        runner = StepRunner(self.engine, pipeline, on_progress)
        await runner.begin()
        reference = await anyio.Path(request.reference).read_bytes() if request.reference else None
        engine, prompt, owner = self.engine, pipeline.spec["prompt"], owner_of(pipeline.spec)
        takes: dict[int, JobRecord] = {}
        failed: dict[int, SorakitError] = {}

        async def make(step: Step) -> JobRecord:
            return await engine.create(
                prompt,
                model=request.model,
                seconds=request.seconds,
                size=request.size,
                reference=reference,
                snap=True,
                step=step,
                owner=owner,
            )

        slots = anyio.CapacityLimiter(max(1, request.parallel or request.count))

        async def take(number: int) -> None:
            try:
                async with slots:
                    takes[number] = await runner.step(f"take-{number}", make)
            except SorakitError as exc:  # one take's failure is its own
                failed[number] = exc

        async with anyio.create_task_group() as group:
            for number in range(1, request.count + 1):
                group.start_soon(take, number)
        for number, exc in sorted(failed.items()):
            runner.note(f"take {number} failed: {exc}")
        videos, sheet = await self._finish(folder, dict(sorted(takes.items())))
        error = None
        if failed:
            error = f"{len(failed)} of {request.count} takes failed: " + "; ".join(
                f"take {n}: {exc}" for n, exc in sorted(failed.items())
            )
        pipeline = await runner.finish(sheet or (videos[-1] if videos else None), error)
        if not takes:
            raise failed[min(failed)]
        return Takes(
            pipeline,
            folder,
            dict(sorted(takes.items())),
            {n: str(exc) for n, exc in sorted(failed.items())},
            videos,
            sheet,
            runner.notes,
        )

    async def resume(
        self, pipeline_id: str, on_progress: ProgressCallback | None = None
    ) -> Resumed:
        """`run`, in the shape `resume_pipelines` expects (a failed take is its error)."""
        from sorakit.pipelines.resume import Resumed

        result = await self.run(pipeline_id, on_progress)
        output = str(result.sheet or result.videos[-1])
        return Resumed(result.pipeline, output, result.pipeline.error_message)

    async def _finish(
        self, folder: Path, takes: dict[int, JobRecord]
    ) -> tuple[list[Path], Path | None]:
        def work() -> tuple[list[Path], Path | None]:
            from sorakit import media

            videos, frames = [], []
            for number, job in takes.items():
                assert job.video_path is not None
                target = folder / "takes" / f"{number:02d}.mp4"
                copy_file(Path(job.video_path), target)
                videos.append(target)
                info = media.probe(target)
                frames.append(media.frame_at(target, info.duration / 2))
            if not frames:
                return videos, None
            sheet = folder / "contact.png"
            width = min(480, frames[0].width)
            tile = (width, max(1, round(frames[0].height * width / frames[0].width)))
            media.montage(frames, "auto", tile_size=tile, padding=4).save(sheet)
            return videos, sheet

        return await anyio.to_thread.run_sync(work)
