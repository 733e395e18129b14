"""Long videos end to end on the simulator: real MP4s, checked frame by frame."""

from __future__ import annotations

import json
from pathlib import Path

import anyio
import av
import numpy as np
import pytest
from PIL import Image

from sorakit import media
from sorakit.engine import Engine
from sorakit.errors import (
    BudgetExceededError,
    InvalidRequestError,
    JobFailedError,
    ProviderBadRequestError,
)
from sorakit.ledger import JobRecord, PipelineStatus
from sorakit.pipelines.long import LongRequest, LongVideos
from sorakit.pipelines.resume import resume_pipelines
from sorakit.providers.base import RemoteJob, SubmitRequest
from sorakit.settings import Settings
from tests.conftest import FakeProvider


def creates(settings: Settings) -> int:
    log = settings.simulator_dir / "creates.log"
    return len(log.read_text().splitlines()) if log.exists() else 0


def frames_at(path: Path, wanted: set[int]) -> tuple[int, dict[int, np.ndarray]]:
    """The frame count and the wanted frames (negative indices count from the end).

    Frames are decoded one at a time and only the wanted ones kept: a minute of 720p as arrays
    would take gigabytes.
    """
    kept: dict[int, np.ndarray] = {}
    tail: list[tuple[int, np.ndarray]] = []
    depth = max((-i for i in wanted if i < 0), default=0)
    count = 0
    with av.open(str(path)) as container:
        for index, frame in enumerate(container.decode(video=0)):
            count = index + 1
            if index in wanted or depth:
                array = frame.to_ndarray(format="rgb24").astype(np.int16)
                if index in wanted:
                    kept[index] = array
                if depth:
                    tail = (
                        [*tail[-(depth - 1) :], (index, array)] if depth > 1 else [(index, array)]
                    )
    for offset in (i for i in wanted if i < 0):
        kept[offset] = tail[offset][1]
    return count, kept


def difference(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a - b).mean())


async def test_a_60_second_chained_video_meets_its_length_and_its_seams(
    settings: Settings,
) -> None:
    async with await Engine.open(settings) as engine:
        result = await LongVideos(engine).generate(
            LongRequest("a paper boat sails down a rainy street", 60, planner="offline")
        )
    assert result.pipeline.status is PipelineStatus.COMPLETED
    assert [job.seconds for job in result.segments] == [20, 20, 20]
    assert {job.pipeline_id for job in result.segments} == {result.pipeline.id}
    folder = result.folder
    assert sorted(p.name for p in (folder / "segments").iterdir()) == ["01.mp4", "02.mp4", "03.mp4"]
    assert sorted(p.name for p in (folder / "frames").iterdir()) == [
        "01-last.png",
        "02-last.png",
        "03-last.png",
    ]
    plan = json.loads((folder / "plan.json").read_text())
    assert len(plan["segments"]) == 3 and plan["planner"] == "offline"
    assert result.video == folder / "video.mp4"

    info = media.probe(result.video)
    assert info.video is not None
    fps = int(info.video.frame_rate)
    assert info.video.frames == 60 * fps - 2
    body = 20 * fps
    seams = [body - 1, 2 * body - 2]  # the last frame of segments 1 and 2 in the stitched video
    count, stitched = frames_at(
        result.video, {0, body // 2, *seams, *(s + 1 for s in seams), 60 * fps - 3}
    )
    # The frame shared at each of the two seams appears once: 60 s less two frames.
    assert count == 60 * fps - 2
    ends = []
    for index in (1, 2, 3):
        length, frames = frames_at(folder / "segments" / f"{index:02d}.mp4", {0, 1, -1})
        assert length == body
        ends.append(frames)
    for index in (1, 2):
        # The next segment opened on this segment's exact last frame...
        assert difference(ends[index][0], ends[index - 1][-1]) < 2.0
        # ...which the stitched video shows once, followed by the next segment's second frame.
        seam = seams[index - 1]
        assert difference(stitched[seam], ends[index - 1][-1]) < 2.0
        assert difference(stitched[seam + 1], ends[index][1]) < 2.0
        assert difference(stitched[seam], stitched[seam + 1]) > 0.0  # no frozen frame
    assert difference(stitched[0], ends[0][0]) < 2.0
    assert difference(stitched[60 * fps - 3], ends[2][-1]) < 2.0
    assert creates(settings) == 3


async def test_a_crash_in_segment_3_resumes_without_paying_again(settings: Settings) -> None:
    request = LongRequest("a lighthouse through four seasons", 32, segments=4, planner="offline")
    async with await Engine.open(settings) as engine:
        long = LongVideos(engine)
        pipeline = await long.start(request)
        crashed = anyio.Event()

        async def watch(job: JobRecord) -> None:
            if job.pipeline_step == "segment-3" and job.status.value == "in_progress":
                crashed.set()

        async with anyio.create_task_group() as group:

            async def run() -> None:
                await long.run(pipeline.id, watch)

            group.start_soon(run)
            await crashed.wait()
            group.cancel_scope.cancel()  # the process dies while segment 3 renders
    assert creates(settings) == 3

    async with await Engine.open(settings) as engine:
        assert (await engine.ledger.get_pipeline(pipeline.id)).status is PipelineStatus.RUNNING
        await engine.resume()
        result = await LongVideos(engine).run(pipeline.id)
    assert result.pipeline.status is PipelineStatus.COMPLETED
    assert [job.pipeline_step for job in result.segments] == [f"segment-{i}" for i in range(1, 5)]
    assert creates(settings) == 4  # segments 1-3 once each, segment 4 once
    assert media.probe(result.video or "").duration == pytest.approx(32 - 3 / 24, abs=0.05)


async def test_impossible_totals_and_budgets_are_refused_before_anything_is_paid(
    settings: Settings,
) -> None:
    async with await Engine.open(settings) as engine:
        long = LongVideos(engine)
        with pytest.raises(InvalidRequestError, match="nearest possible totals are 60 s and 64 s"):
            await long.start(LongRequest("x", 62))
        with pytest.raises(BudgetExceededError, match=r"estimated at \$6\.00"):
            await long.start(LongRequest("x", 60, budget_usd=5.0))
        with pytest.raises(InvalidRequestError, match="grow to at most .* needs --mode chain"):
            await long.start(LongRequest("x", 600, mode="extend"))
        assert await engine.ledger.list_pipelines() == []
    assert creates(settings) == 0


async def test_keyframes_render_every_segment_at_once_from_its_own_still(
    settings: Settings,
) -> None:
    async with await Engine.open(settings) as engine:
        result = await LongVideos(engine).generate(
            LongRequest("a kite over the dunes", 16, segments=4, mode="keyframes", crossfade=0.25)
        )
    folder = result.folder
    stills = sorted((folder / "keyframes").iterdir())
    assert [p.name for p in stills] == ["01.png", "02.png", "03.png", "04.png"]
    # All four jobs were in flight together: each was submitted before any finished.
    submitted = max(job.submitted_at or 0 for job in result.segments)
    assert submitted < min(job.completed_at or 0 for job in result.segments)
    for job, still in zip(result.segments, stills, strict=True):
        _, first = frames_at(Path(job.video_path or ""), {0})
        with Image.open(still) as image:
            expected = np.asarray(image.convert("RGB"), dtype=np.int16)
        assert difference(first[0], expected) < 3.0  # each segment opens on its keyframe
    assert any("takes no last frame" in note for note in result.notes)
    # Four 4 s clips with three 0.25 s crossfades (segments share no frame to drop).
    assert media.probe(result.video or "").duration == pytest.approx(16 - 0.75, abs=0.05)


async def test_extend_mode_grows_one_video_with_the_models_extension(settings: Settings) -> None:
    async with await Engine.open(settings) as engine:
        result = await LongVideos(engine).generate(
            LongRequest("a train crosses a bridge", 24, mode="extend", segments=2)
        )
    first, second = result.segments
    assert (first.kind, second.kind, second.source_id) == ("generate", "extend", first.id)
    assert second.total_seconds == "24"
    assert media.probe(result.video or "").duration == pytest.approx(24, abs=0.05)


class FaceShy(FakeProvider):
    """Refuses every start image, as the real APIs do with images of people."""

    async def submit(self, request: SubmitRequest) -> RemoteJob:
        if request.reference is not None:
            self.requests.append(request)
            raise ProviderBadRequestError(
                "The input image contains a human face.", provider="fake", status_code=400
            )
        return await super().submit(request)


async def test_a_refused_start_image_is_described_instead_and_the_user_told(
    settings: Settings,
) -> None:
    fake = FaceShy(steps=1)
    async with await Engine.open(settings, providers={"simulator": fake}) as engine:
        result = await LongVideos(engine).generate(
            LongRequest("two friends talk on a bench", 8, segments=2, planner="offline")
        )
        steps = {
            job.pipeline_step: job.status.value
            for job in await engine.ledger.pipeline_jobs(result.pipeline.id)
        }
    assert steps == {
        "segment-1": "completed",
        "segment-2": "failed",
        "segment-2-described": "completed",
    }
    assert [job.pipeline_step for job in result.segments] == ["segment-1", "segment-2-described"]
    described = fake.requests[-1]
    assert (
        described.reference is None
        and "opens exactly where the previous shot ended" in described.prompt
    )
    assert any("refused its start image" in note for note in result.notes)
    assert fake.creates == 2  # the refused create never became a job


async def test_a_failed_segment_stops_the_pipeline_and_resume_retries_only_it(
    settings: Settings,
) -> None:
    fake = FakeProvider(steps=1)

    def fail_segment_2(job: JobRecord) -> None:
        fake.fail_with = (
            ("server_error", "the render crashed") if job.pipeline_step == "segment-2" else None
        )

    async with await Engine.open(settings, providers={"simulator": fake}) as engine:
        long = LongVideos(engine)
        pipeline = await long.start(
            LongRequest("a storm rolls in", 12, segments=3, planner="offline")
        )
        with pytest.raises(JobFailedError, match="the render crashed"):
            await long.run(pipeline.id, fail_segment_2)
        stopped = await engine.ledger.get_pipeline(pipeline.id)
        assert stopped.status is PipelineStatus.FAILED and "render crashed" in (
            stopped.error_message or ""
        )

        fake.fail_with = None
        (resumed,) = await resume_pipelines(engine)
        assert resumed.pipeline.status is PipelineStatus.COMPLETED and resumed.output
        steps = [job.pipeline_step for job in await engine.ledger.pipeline_jobs(pipeline.id)]
    assert steps == ["segment-1", "segment-2", "segment-2#2", "segment-3"]
    assert fake.creates == 4  # segment 1 was not paid for again


async def test_style_tags_reach_every_segment(settings: Settings) -> None:
    async with await Engine.open(settings) as engine:
        plan = await LongVideos(engine).plan(
            LongRequest("a cat on a roof {anime}", 24, planner="offline")
        )
    assert all("Anime style" in s.prompt and "{anime}" not in s.prompt for s in plan.segments)
    assert "styles applied to every segment: anime" in plan.notes


async def test_segments_download_only_their_video(settings: Settings) -> None:
    fake = FakeProvider(steps=1)
    fake.variants = frozenset({"video", "thumbnail", "spritesheet"})  # type: ignore[misc]
    async with await Engine.open(settings, providers={"simulator": fake}) as engine:
        result = await LongVideos(engine).generate(LongRequest("a kite", 8, segments=2))
    assert all(set(job.assets) <= {"video", "reference"} for job in result.segments)
    assert [op for op, _ in fake.history].count("download") == 2
