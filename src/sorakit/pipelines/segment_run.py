"""One run of a long video: its segments as pipeline steps, their frames, and the stitch.

`LongVideos` (in `long`) plans and records a long video; a `SegmentRun` renders it, in the
continuity mode asked for, reusing every step an earlier run finished.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio

from sorakit.engine import Engine, Step
from sorakit.engine.planning import planned_size
from sorakit.engine.runner import ProgressCallback
from sorakit.errors import JobFailedError, ProviderBadRequestError, ReferenceImageError
from sorakit.ledger import JobRecord, PipelineRecord
from sorakit.pipelines.keyframes import (
    KEYFRAME_STEP,
    fitted_keyframe,
    keyframe_model,
    keyframe_prompt,
    keyframe_size,
)
from sorakit.pipelines.planner import Plan
from sorakit.pipelines.steps import StepMaker, StepRunner, copy_file, owner_of

if TYPE_CHECKING:
    from sorakit.pipelines.long import LongRequest

logger = logging.getLogger(__name__)

SEGMENT_OPTIONS = {"variants": ["video"]}
"""A segment's thumbnail and spritesheet are never used: only its video is downloaded."""
_REFERENCE_REFUSAL = re.compile(r"image|face|person|people|reference|frame|likeness", re.I)


class SegmentRun(StepRunner):
    """One run of one long video: its segments as steps, their files, and the stitch."""

    def __init__(
        self,
        engine: Engine,
        pipeline: PipelineRecord,
        request: LongRequest,
        plan: Plan,
        folder: Path,
        on_progress: ProgressCallback | None,
    ) -> None:
        super().__init__(engine, pipeline, on_progress)
        self.request = request
        self.plan = plan
        self.folder = folder
        self.size = request.size
        self.owner = owner_of(pipeline.spec)
        self.keyframe_jobs: list[JobRecord] = []

    async def step(self, name: str, make: StepMaker) -> JobRecord:
        job = await super().step(name, make)
        if self.size is None:
            self.size = job.size  # later segments keep the first one's size
        return job

    async def _segment(
        self, index: int, reference: bytes | None, last_frame: bytes | None = None
    ) -> JobRecord:
        """One segment from its plan; a refused reference is dropped and described instead."""
        segment = self.plan.segments[index - 1]
        name = f"segment-{index}"

        def create(prompt: str, image: bytes | None) -> StepMaker:
            async def make(step: Step) -> JobRecord:
                return await self.engine.create(
                    prompt,
                    model=self.request.model,
                    seconds=segment.seconds,
                    size=self.size,
                    reference=image,
                    last_frame=last_frame,
                    snap=True,
                    step=step,
                    owner=self.owner,
                    extra_options=SEGMENT_OPTIONS,
                )

            return make

        if reference is None:
            return await self.step(name, create(segment.prompt, None))
        if name not in self.described:
            try:
                return await self.step(name, create(segment.prompt, reference))
            except (ProviderBadRequestError, JobFailedError, ReferenceImageError) as exc:
                if not reference_refused(exc):
                    raise
            self.described.append(name)  # a resume goes straight to the described segment
            await self.engine.ledger.update_pipeline(
                self.pipeline.id, state={"described": self.described}
            )
        described = (
            f"{segment.prompt}\n\nThe shot opens exactly where the previous shot ended: "
            f"{self.plan.segments[index - 2].prompt if index > 1 else self.plan.prompt}"
        )
        self.note(
            f"segment {index}: the provider refused its start image, so it was made without one "
            "and the frame was described in the prompt instead"
        )
        return await self.step(f"{name}-described", create(described, None))

    async def chain(self) -> list[JobRecord]:
        jobs: list[JobRecord] = []
        reference = await self._first_reference()
        for index in range(1, len(self.plan.segments) + 1):
            job = await self._segment(index, reference)
            jobs.append(job)
            reference = await self._last_frame(job, index)
        return jobs

    async def extend(self) -> list[JobRecord]:
        reference = await self._first_reference()
        jobs = [await self._segment(1, reference)]
        for index, segment in enumerate(self.plan.segments[1:], start=2):
            previous = jobs[-1]

            async def make(step: Step, source: str = previous.id, seg: Any = segment) -> JobRecord:
                return await self.engine.extend(
                    source, seg.prompt, seg.seconds, step=step, owner=self.owner
                )

            jobs.append(await self.step(f"segment-{index}", make))
        return jobs

    async def keyframes(self) -> list[JobRecord]:
        entry, _ = self.engine.routes.entry(self.pipeline, self.request.model)  # the first run's
        self.size = planned_size(self.size, entry, "image")  # keyframes are first frames
        size = self.size
        image = keyframe_model(self.engine, entry, self.request.image_model)
        drawn_at = keyframe_size(image, size)
        count = len(self.plan.segments)
        given = await self._first_reference()
        slots = anyio.CapacityLimiter(max(1, self.request.parallel or count))  # a key's limit
        frames: dict[int, bytes] = {}
        drawn: dict[int, JobRecord] = {}

        async def draw(index: int) -> None:
            if index == 1 and given is not None:
                data = given
            else:
                async with slots:
                    drawn[index] = await self._keyframe(index, image.name, drawn_at)
                picture = Path(drawn[index].assets["image"].path)
                data = await anyio.to_thread.run_sync(fitted_keyframe, picture, size)
            path = self.folder / "keyframes" / f"{index:02d}.png"
            await anyio.to_thread.run_sync(_write, path, data)
            frames[index] = data

        await at_once(draw, count)
        self.keyframe_jobs = [drawn[i] for i in sorted(drawn)]
        ends = entry.capabilities.last_frame
        if not ends:
            self.note(f"{entry.name} takes no last frame: segments meet at a cut between keyframes")
        results: dict[int, JobRecord] = {}

        async def one(index: int) -> None:
            last = frames[index + 1] if ends and index < count else None
            async with slots:
                results[index] = await self._segment(index, frames[index], last)

        await at_once(one, count)
        return [results[i] for i in range(1, count + 1)]

    async def _keyframe(self, index: int, model: str, size: str) -> JobRecord:
        """Segment `index`'s start image: an image job, a step, drawn once however often run."""
        prompt = keyframe_prompt(self.plan.segments[index - 1].prompt)

        async def make(step: Step) -> JobRecord:
            (job,) = await self.engine.create_image(
                prompt, model=model, size=size, step=step, owner=self.owner
            )
            return job

        # The runner's own step: this run's `step` would take the image's size for the videos.
        return await StepRunner.step(self, f"{KEYFRAME_STEP}-{index}", make)

    async def _first_reference(self) -> bytes | None:
        if not self.request.reference:
            return None
        return await anyio.Path(self.request.reference).read_bytes()

    async def _last_frame(self, job: JobRecord, index: int) -> bytes:
        """The segment's exact last frame as PNG, kept in the folder as `frames/NN-last.png`."""
        from sorakit import media

        path = self.folder / "frames" / f"{index:02d}-last.png"
        video = job.video_path
        assert video is not None

        def extract() -> bytes:
            image = media.last_frame(video)
            path.parent.mkdir(parents=True, exist_ok=True)
            data = media.encode_image(image, "PNG")
            path.write_bytes(data)
            return data

        return await anyio.to_thread.run_sync(extract)

    async def stitch(self, jobs: list[JobRecord]) -> Path:
        """Copy the segments into the folder and stitch them (the last job, for extensions)."""
        from sorakit import media

        videos = []
        for index, job in enumerate(jobs, start=1):
            assert job.video_path is not None
            target = self.folder / "segments" / f"{index:02d}.mp4"
            await anyio.to_thread.run_sync(copy_file, Path(job.video_path), target)
            videos.append(target)
        output = self.folder / "video.mp4"
        if self.request.mode == "extend":
            await anyio.to_thread.run_sync(copy_file, videos[-1], output)
            return output
        chained = self.request.mode == "chain"
        crossfade = self.request.crossfade
        await anyio.to_thread.run_sync(
            lambda: media.stitch(videos, output, chained=chained, crossfade=crossfade)
        )
        return output


async def at_once(work: Callable[[int], Coroutine[Any, Any, None]], count: int) -> None:
    """`work(1)` to `work(count)` together; the first failure is raised as itself (as a
    sequential run would raise it), not inside an exception group."""
    try:
        async with anyio.create_task_group() as group:
            for index in range(1, count + 1):
                group.start_soon(work, index)
    except ExceptionGroup as failed:
        raise failed.exceptions[0] from None


def reference_refused(exc: Exception) -> bool:
    """Whether a failure reads like the provider refusing the start image (faces, people...)."""
    if isinstance(exc, ReferenceImageError):
        return True
    text = f"{getattr(exc, 'code', '') or ''} {getattr(exc, 'reason', '') or ''} {exc}"
    return bool(_REFERENCE_REFUSAL.search(text))


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
