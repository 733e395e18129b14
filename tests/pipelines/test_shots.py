"""Storyboards end to end on the simulator: real MP4s, trimmed and joined, checked frame by frame."""

from __future__ import annotations

import json
from pathlib import Path

import anyio
import pytest

from sorakit import media
from sorakit.engine import Engine
from sorakit.errors import BudgetExceededError
from sorakit.ledger import JobRecord, PipelineStatus
from sorakit.pipelines.resume import resume_pipelines
from sorakit.pipelines.shots import StoryboardRequest, Storyboards
from sorakit.pipelines.steps import Seam, join
from sorakit.settings import Settings
from tests.conftest import make_mp4
from tests.pipelines.test_long import FaceShy, creates, difference, frames_at

FPS = 24

BOARD = """\
title: trims and seams
model: sora-2
size: 1280x720
scenes:
  - prompt: a red kite rises over the dunes {golden}
    seconds: 2.5
  - prompt: the kite loops in a gust
    seconds: 3
    transition: {type: crossfade, seconds: 0.5}
  - prompt: a storm rolls over the dunes and the kite fights the wind
    seconds: 22
  - prompt: calm returns and the kite lands
    seconds: 1.5
"""


async def test_a_storyboard_with_trims_meets_the_intended_lengths_frame_exactly(
    settings: Settings, tmp_path: Path
) -> None:
    board = tmp_path / "board.yaml"
    board.write_text(BOARD)
    async with await Engine.open(settings) as engine:
        result = await Storyboards(engine).generate(StoryboardRequest(str(board)))
    assert result.pipeline.status is PipelineStatus.COMPLETED
    # 22 s is longer than sora-2's longest clip: two 12 s renders, the second continuing the first.
    assert [(s.seconds, s.trim_to, s.continues) for s in result.shots] == [
        (4, 2.5, False),
        (4, 3.0, False),
        (12, 12.0, False),
        (12, 10.0, True),
        (4, 1.5, False),
    ]
    assert "Golden hour light" in result.shots[0].prompt  # the `{golden}` style was applied
    assert [job.pipeline_step for job in result.jobs] == [f"shot-{i}" for i in range(1, 6)]
    assert creates(settings) == 5
    folder = result.folder
    assert result.video == folder / "video.mp4" and result.pipeline.output == str(result.video)
    assert sorted(p.name for p in (folder / "shots").iterdir()) == [
        f"{i:02d}.mp4" for i in range(1, 6)
    ]
    plan = json.loads((folder / "plan.json").read_text())
    assert plan["seconds"] == pytest.approx(28.5) and len(plan["shots"]) == 5
    story = json.loads((folder / "storyboard.json").read_text())
    assert story["title"] == "trims and seams" and len(story["scenes"]) == 4
    # Shots that continue nothing were all in flight together.
    free = [result.jobs[i] for i in (0, 1, 2, 4)]
    assert max(job.submitted_at or 0 for job in free) < min(job.completed_at or 0 for job in free)

    # 2.5 + 3 + 22 + 1.5 s, less the 0.5 s crossfade, to the frame.
    total = round((2.5 + 3 + 22 + 1.5 - 0.5) * FPS)
    fade_start = round(2.5 * FPS) - round(0.5 * FPS)  # shot 2 starts under shot 1's last 12 frames
    shot3 = fade_start + 3 * FPS
    shot4 = shot3 + 12 * FPS  # after shot 3's last frame, shot 4's second frame
    shot5 = shot4 + 10 * FPS
    assert shot5 + round(1.5 * FPS) == total
    wanted = {fade_start - 1, fade_start + 6, fade_start + 12, shot3, shot4 - 1, shot4, shot5}
    count, out = frames_at(result.video, wanted | {total - 1})
    assert count == total
    assert media.probe(result.video).duration == pytest.approx(total / FPS, abs=0.01)
    shots = [folder / "shots" / f"{i:02d}.mp4" for i in range(1, 6)]
    _, one = frames_at(shots[0], {fade_start - 1, fade_start + 6})
    _, two = frames_at(shots[1], {0, 6, 12})
    _, three = frames_at(shots[2], {0, -1})
    four_count, four = frames_at(shots[3], {0, 1})
    _, five = frames_at(shots[4], {0, round(1.5 * FPS) - 1})
    assert four_count == 12 * FPS
    # The crossfade seam: shot 1 alone, then a blend of both, then shot 2 alone.
    assert difference(out[fade_start - 1], one[fade_start - 1]) < 2.0
    weight = 7 / 13
    blend = one[fade_start + 6] * (1 - weight) + two[6] * weight
    assert difference(out[fade_start + 6], blend) < 3.0
    assert difference(out[fade_start + 6], one[fade_start + 6]) > 3.0
    assert difference(out[fade_start + 6], two[6]) > 3.0
    assert difference(out[fade_start + 12], two[12]) < 2.0
    # The continuing shot opens on shot 3's exact last frame, which the video shows once.
    assert difference(four[0], three[-1]) < 2.0
    assert difference(out[shot4 - 1], three[-1]) < 2.0
    assert difference(out[shot4], four[1]) < 2.0
    assert difference(out[shot3], three[0]) < 2.0
    # A cut into shot 5, which ends the video trimmed to 1.5 s.
    assert difference(out[shot5], five[0]) < 2.0
    assert difference(out[total - 1], five[round(1.5 * FPS) - 1]) < 2.0


async def test_a_crash_mid_storyboard_resumes_without_paying_again(settings: Settings) -> None:
    text = "{anime} [2s] a fox wakes up [3s] it runs through the snow [1.5s] it looks back"
    async with await Engine.open(settings) as engine:
        boards = Storyboards(engine)
        pipeline = await boards.start(StoryboardRequest(text))
        crashed = anyio.Event()

        async def watch(job: JobRecord) -> None:
            if job.pipeline_step == "shot-2" and job.status.value == "in_progress":
                crashed.set()

        async with anyio.create_task_group() as group:

            async def run() -> None:
                await boards.run(pipeline.id, watch)

            group.start_soon(run)
            await crashed.wait()
            group.cancel_scope.cancel()  # the process dies while shot 2 renders
    before = creates(settings)
    assert 1 <= before <= 3

    async with await Engine.open(settings) as engine:
        assert (await engine.ledger.get_pipeline(pipeline.id)).status is PipelineStatus.RUNNING
        await engine.resume()
        (resumed,) = await resume_pipelines(engine)
        steps = [job.pipeline_step for job in await engine.ledger.pipeline_jobs(pipeline.id)]
    assert resumed.pipeline.status is PipelineStatus.COMPLETED and resumed.output
    assert sorted(steps) == ["shot-1", "shot-2", "shot-3"]
    assert creates(settings) == 3  # nothing created before the crash was created again
    info = media.probe(resumed.output)
    assert info.video is not None and info.video.frames == round(6.5 * FPS)


async def test_a_storyboard_over_its_budget_is_refused_before_anything_is_sent(
    settings: Settings,
) -> None:
    async with await Engine.open(settings) as engine:
        with pytest.raises(BudgetExceededError, match=r"estimated at \$0\.80"):
            await Storyboards(engine).start(StoryboardRequest("[2s] a [3s] b", budget_usd=0.5))
        assert await engine.ledger.list_pipelines() == []
    assert creates(settings) == 0


def test_join_applies_each_seam_on_its_own(tmp_path: Path) -> None:
    clips = []
    for index in range(4):
        path = tmp_path / f"{index}.mp4"
        path.write_bytes(make_mp4(1.0, fps=12))
        clips.append(path)
    dest = tmp_path / "out.mp4"
    seams = [Seam(crossfade=0.25), Seam(), Seam(chained=True)]
    join(clips, seams, dest)
    info = media.probe(dest)
    assert info.video is not None
    # 4 x 12 frames, less a 3-frame crossfade and one shared frame.
    assert info.video.frames == 48 - 3 - 1
    assert not list(tmp_path.glob(".join-*"))  # the intermediate join is gone


async def test_a_refused_start_frame_is_described_instead_and_the_user_told(
    settings: Settings,
) -> None:
    fake = FaceShy(steps=1)  # its clips are 6 frames, whatever the length asked for
    async with await Engine.open(settings, providers={"simulator": fake}) as engine:
        result = await Storyboards(engine).generate(
            StoryboardRequest("[22s] two friends talk on a bench")
        )
        steps = {
            job.pipeline_step: job.status.value
            for job in await engine.ledger.pipeline_jobs(result.pipeline.id)
        }
    assert steps == {"shot-1": "completed", "shot-2": "failed", "shot-2-described": "completed"}
    assert [job.pipeline_step for job in result.jobs] == ["shot-1", "shot-2-described"]
    described = fake.requests[-1]
    assert described.reference is None and "opens exactly where the previous" in described.prompt
    assert any("refused its start frame" in note for note in result.notes)
    assert any("shot 2's render is" in note for note in result.notes)
    info = media.probe(result.video)
    assert info.video is not None and info.video.frames == 12  # a cut: no shared frame dropped
