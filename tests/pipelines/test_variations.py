"""Variations: N takes at once; a failed take keeps the others and a resume renders only it."""

from __future__ import annotations

from dataclasses import replace

import pytest
from PIL import Image

from sorakit import media
from sorakit.engine import Engine
from sorakit.errors import InvalidRequestError, JobFailedError, ProviderBadRequestError
from sorakit.ledger import PipelineStatus
from sorakit.pipelines.resume import resume_pipelines
from sorakit.pipelines.variations import Variations, VariationsRequest
from sorakit.providers.base import RemoteJob
from sorakit.settings import Settings
from tests.conftest import FakeProvider
from tests.pipelines.test_long import creates


class OneBadTake(FakeProvider):
    """Fails the render of one remote job (by id) while `bad` names it."""

    def __init__(self, bad: str | None) -> None:
        super().__init__(steps=2)
        self.bad = bad

    async def retrieve(self, remote_id: str) -> RemoteJob:
        job = await super().retrieve(remote_id)
        if remote_id == self.bad and job.status == "completed":
            job = replace(
                job, status="failed", error_code="server_error", error_message="the GPU fell over"
            )
            self.jobs[remote_id] = job
        return job


async def test_takes_render_at_once_and_a_failed_one_keeps_the_others(settings: Settings) -> None:
    fake = OneBadTake(bad="fake_2")
    async with await Engine.open(settings, providers={"simulator": fake}) as engine:
        result = await Variations(engine).generate(
            VariationsRequest("a paper crane unfolds {watercolor}", count=3)
        )
        # Which take got the second remote job depends on scheduling; exactly one failed.
        assert len(result.takes) == 2 and len(result.failed) == 1
        (bad,) = result.failed
        assert "GPU fell over" in result.failed[bad]
        assert result.pipeline.status is PipelineStatus.FAILED
        assert "1 of 3 takes failed" in (result.pipeline.error_message or "")
        assert any(f"take {bad} failed" in note for note in result.notes)
        # The finished takes are in the folder, with a contact sheet of both.
        assert [p.name for p in result.videos] == [f"{n:02d}.mp4" for n in sorted(result.takes)]
        assert all(media.probe(p).video is not None for p in result.videos)
        assert result.sheet == result.folder / "contact.png"
        with Image.open(result.sheet) as sheet:
            assert sheet.size == (2 * 64 + 3 * 4, 48 + 2 * 4)  # two tiles side by side, padded
        prompts = {request.prompt for request in fake.requests}
        assert len(prompts) == 1 and "Watercolour painting" in prompts.pop()
        jobs = await engine.ledger.pipeline_jobs(result.pipeline.id)
        # All three were submitted before any finished.
        assert max(j.submitted_at or 0 for j in jobs) < min(j.completed_at or 0 for j in jobs)

        fake.bad = None
        (resumed,) = await resume_pipelines(engine)
        assert resumed.pipeline.status is PipelineStatus.COMPLETED and resumed.error is None
        steps = sorted(
            j.pipeline_step or "" for j in await engine.ledger.pipeline_jobs(result.pipeline.id)
        )
    assert steps == sorted(["take-1", "take-2", "take-3", f"take-{bad}#2"])
    assert fake.creates == 4  # only the failed take was made again
    with Image.open(resumed.output or "") as sheet:
        assert sheet.width == 2 * 64 + 3 * 4 and sheet.height == 2 * 48 + 3 * 4  # 2x2 grid


async def test_takes_of_a_blocked_prompt_all_fail_and_say_why(settings: Settings) -> None:
    async with await Engine.open(settings) as engine:
        variations = Variations(engine)
        with pytest.raises(JobFailedError, match="moderation"):
            await variations.generate(VariationsRequest("[[moderation_blocked]] a duel", count=2))
        with pytest.raises(InvalidRequestError, match="1 to 16"):
            await variations.start(VariationsRequest("a duel", count=0))
    assert creates(settings) == 2


async def test_takes_on_the_simulator_are_real_videos(settings: Settings) -> None:
    async with await Engine.open(settings) as engine:
        result = await Variations(engine).generate(
            VariationsRequest("a snail races a leaf", count=2, size="1280x720")
        )
    assert result.pipeline.status is PipelineStatus.COMPLETED and not result.failed
    for video in result.videos:
        info = media.probe(video)
        assert info.video is not None and (info.video.width, info.video.height) == (1280, 720)
        assert info.duration == pytest.approx(4.0, abs=0.05)
    assert creates(settings) == 2


async def test_a_take_the_provider_refuses_at_submit_keeps_the_other(settings: Settings) -> None:
    fake = FakeProvider(steps=1)
    fake.enqueue(
        "submit", ProviderBadRequestError("prompt refused", provider="fake", status_code=400)
    )
    async with await Engine.open(settings, providers={"simulator": fake}) as engine:
        result = await Variations(engine).generate(VariationsRequest("a lamp", count=2))
    assert len(result.takes) == 1 and len(result.videos) == 1
    assert list(result.failed.values()) == ["prompt refused"]
    assert result.pipeline.status is PipelineStatus.FAILED and result.sheet is not None
