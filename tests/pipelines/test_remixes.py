"""Remix chains on the simulator: each remix made from the previous result, optionally stitched."""

from __future__ import annotations

import json

import pytest

from sorakit import media
from sorakit.engine import Engine
from sorakit.errors import BudgetExceededError, InvalidRequestError, JobFailedError
from sorakit.ledger import PipelineStatus
from sorakit.pipelines.remixes import RemixChainRequest, RemixChains
from sorakit.pipelines.resume import resume_pipelines
from sorakit.settings import Settings
from tests.pipelines.test_long import creates, difference, frames_at


async def test_a_chain_remixes_each_result_and_stitches_them(settings: Settings) -> None:
    request = RemixChainRequest(
        "a quiet harbour at dusk {noir}",
        ["make it night", "add falling snow"],
        seconds=4,
        size="1280x720",
        stitch=True,
    )
    async with await Engine.open(settings) as engine:
        chain = await RemixChains(engine).generate(request)
    assert chain.pipeline.status is PipelineStatus.COMPLETED
    base, night, snow = chain.base, *chain.remixes
    assert (base.kind, night.kind, snow.kind) == ("generate", "remix", "remix")
    assert night.source_id == base.id and snow.source_id == night.id  # each from the last result
    assert [night.prompt, snow.prompt] == request.steps
    assert "Film noir" in base.prompt
    assert [p.name for p in chain.clips] == ["00.mp4", "01.mp4", "02.mp4"]
    assert chain.video == chain.output == chain.folder / "video.mp4"
    assert chain.pipeline.output == str(chain.video)
    saved = json.loads((chain.folder / "chain.json").read_text())
    assert saved["videos"] == [base.id, night.id, snow.id]
    count, out = frames_at(chain.video, {0, 96, 192})
    assert count == 3 * 96  # three 4 s clips joined by cuts
    for index, clip in enumerate(chain.clips):
        _, first = frames_at(clip, {0})
        assert difference(out[96 * index], first[0]) < 2.0
    assert creates(settings) == 3


async def test_a_chain_from_an_existing_video_pays_only_for_the_remixes(
    settings: Settings,
) -> None:
    async with await Engine.open(settings) as engine:
        source = await engine.wait((await engine.create("a red balloon", seconds=4)).id)
        chain = await RemixChains(engine).generate(RemixChainRequest(source.id, ["make it blue"]))
        jobs = await engine.ledger.pipeline_jobs(chain.pipeline.id)
    assert chain.base.id == source.id and chain.video is None
    assert chain.output == chain.clips[-1] and media.probe(chain.output).duration == pytest.approx(
        4.0, abs=0.05
    )
    assert [job.pipeline_step for job in jobs] == ["remix-1"]
    assert creates(settings) == 2


async def test_a_failed_remix_stops_the_chain_and_a_resume_keeps_what_finished(
    settings: Settings,
) -> None:
    async with await Engine.open(settings) as engine:
        chains = RemixChains(engine)
        pipeline = await chains.start(
            RemixChainRequest("a lantern", ["[[moderation_blocked]] a brawl"], seconds=4)
        )
        with pytest.raises(JobFailedError, match="moderation"):
            await chains.run(pipeline.id)
        assert (await engine.ledger.get_pipeline(pipeline.id)).status is PipelineStatus.FAILED
        (resumed,) = await resume_pipelines(engine)
        steps = [job.pipeline_step for job in await engine.ledger.pipeline_jobs(pipeline.id)]
    assert resumed.output is None and "moderation" in (resumed.error or "")
    assert steps == ["base", "remix-1", "remix-1#2"]  # the base was not made again
    assert creates(settings) == 3


async def test_chains_are_checked_before_anything_is_sent(settings: Settings) -> None:
    async with await Engine.open(settings) as engine:
        chains = RemixChains(engine)
        with pytest.raises(InvalidRequestError, match="at least one remix step"):
            await chains.start(RemixChainRequest("a lantern", []))
        with pytest.raises(BudgetExceededError, match=r"estimated at \$1\.20"):
            await chains.start(RemixChainRequest("a lantern", ["a", "b"], budget_usd=1.0))
        with pytest.raises(InvalidRequestError, match="does not support remixes"):
            await chains.start(RemixChainRequest("a lantern", ["a"], model="fal/veo-3.1"))
        assert await engine.ledger.list_pipelines() == []
    assert creates(settings) == 0
