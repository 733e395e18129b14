"""Keyframes mode's start images as image jobs: in the ledger, priced, budgeted, drawn once."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from sorakit.catalog import Catalog
from sorakit.catalog.fal_images import fal_image_models
from sorakit.catalog.sync import set_price
from sorakit.engine import Engine, Owner
from sorakit.errors import BudgetExceededError, ConfigurationError
from sorakit.ledger import JobRecord, JobStatus, PipelineStatus
from sorakit.pipelines.keyframes import keyframe_size
from sorakit.pipelines.long import LongRequest, LongVideos
from sorakit.pipelines.resume import resume_pipelines
from sorakit.pipelines.steps import owner_fields
from sorakit.settings import Settings
from tests.conftest import FakeProvider
from tests.engine.test_frames import FRAMES
from tests.pipelines.test_long import creates
from tests.providers.fal_fake import API, QUEUE, FakeFalQueue, QuickFal

IMAGE_PRICE = 0.5
"""An operator's price for `sim-image` (free by list), so the keyframes cost something."""


class Crash(Exception):
    """The process dying mid-run (raised, so the job's lease is let go and a restart need not
    wait for it to expire)."""


def image_creates(settings: Settings) -> int:
    """Image jobs the simulator actually created (its `creates.log` names each job's kind)."""
    log = settings.simulator_dir / "creates.log"
    lines = log.read_text().splitlines() if log.exists() else []
    return sum(1 for line in lines if line.split()[2] == "image")


async def priced_images(engine: Engine) -> None:
    await set_price(engine.catalog, engine.ledger, "sim-image", {"usd_per_image": IMAGE_PRICE})


async def test_keyframes_are_the_pipelines_image_jobs_for_its_owner_and_paid_with_it(
    settings: Settings,
) -> None:
    async with await Engine.open(settings) as engine:
        await priced_images(engine)
        key, _ = await engine.ledger.create_key("tenant", budget_usd=1.8)
        owner = Owner(key.id, 1.8)  # exactly two 4 s videos ($0.80) and two images ($1.00)
        request = LongRequest(
            "a kite over the dunes",
            8,
            size="1280x720",
            segments=2,
            mode="keyframes",
            **owner_fields(owner),
        )
        long = LongVideos(engine)
        assert long.estimate(request) == pytest.approx(1.8)
        result = await long.generate(request)
        jobs = await engine.ledger.pipeline_jobs(result.pipeline.id)
        spent = (await engine.ledger.spend(owner=key.id)).total
    images = [job for job in jobs if job.kind == "image"]
    assert sorted(job.pipeline_step or "" for job in images) == ["keyframe-1", "keyframe-2"]
    assert {job.pipeline_id for job in images} == {result.pipeline.id}
    assert {job.owner for job in jobs} == {key.id}
    assert {(job.model, job.size, job.cost) for job in images} == {
        ("sim-image", "1792x1024", IMAGE_PRICE)  # the image size nearest 16:9
    }
    assert result.keyframes == sorted(images, key=lambda job: job.pipeline_step or "")
    assert spent == pytest.approx(1.8)
    assert result.pipeline.spec["request"]["image_model"] == "sim-image"
    assert "keyframes: 2 start images drawn first with sim-image ($1.00, in the estimate)" in (
        result.plan.notes
    )
    # The kept keyframe is the image job's picture cropped to the video's size.
    for index, job in enumerate(result.keyframes, start=1):
        kept = result.folder / "keyframes" / f"{index:02d}.png"
        with Image.open(kept) as still, Image.open(job.assets["image"].path) as drawn:
            assert still.size == (1280, 720) and drawn.size == (1792, 1024)
            # Scaled to the video's width (1280x731), then its middle 720 rows kept.
            middle = drawn.convert("RGB").resize((1280, 731)).crop((0, 5, 1280, 725))
            pixels = [np.asarray(i.convert("RGB"), dtype=np.int16) for i in (still, middle)]
            assert np.abs(pixels[0] - pixels[1]).mean() < 3


async def test_a_crash_mid_keyframes_resumes_without_drawing_any_twice(
    settings: Settings,
) -> None:
    request = LongRequest("a lantern drifts upriver", 12, segments=3, mode="keyframes", parallel=1)
    async with await Engine.open(settings) as engine:
        long = LongVideos(engine)
        pipeline = await long.start(request)

        async def watch(job: JobRecord) -> None:
            if job.pipeline_step == "keyframe-2" and not job.status.finished:
                raise Crash  # the run dies while keyframe 2 is drawn

        with pytest.raises(Crash):
            await long.run(pipeline.id, watch)
        assert (await engine.ledger.get_pipeline(pipeline.id)).status is PipelineStatus.RUNNING
    # Keyframes 1 and 2 were sent; keyframe 3 and the videos were not.
    assert (image_creates(settings), creates(settings)) == (2, 2)

    async with await Engine.open(settings) as engine:  # a restart
        (resumed,) = await resume_pipelines(engine)
        jobs = await engine.ledger.pipeline_jobs(pipeline.id)
    assert resumed.pipeline.status is PipelineStatus.COMPLETED, resumed.error
    steps = sorted(job.pipeline_step or "" for job in jobs if job.kind == "image")
    assert steps == ["keyframe-1", "keyframe-2", "keyframe-3"]
    assert image_creates(settings) == 3  # each keyframe drawn once
    assert creates(settings) == 6  # and three segments


async def test_a_budget_for_the_videos_but_not_their_keyframes_is_refused_before_sending(
    settings: Settings,
) -> None:
    async with await Engine.open(settings) as engine:
        await priced_images(engine)
        long = LongVideos(engine)
        chained = LongRequest("a storm rolls in", 8, segments=2, budget_usd=1.0)
        keyframes = LongRequest("a storm rolls in", 8, segments=2, mode="keyframes", budget_usd=1.0)
        assert long.estimate(chained) == pytest.approx(0.8)  # the videos fit $1.00
        with pytest.raises(BudgetExceededError, match=r"estimated at \$1\.80"):
            await long.start(keyframes)
        given = LongRequest(  # a given first frame is not drawn: one image, $1.30
            "a storm rolls in", 8, segments=2, mode="keyframes", reference="first.png"
        )
        assert long.estimate(given) == pytest.approx(1.3)
        assert await engine.ledger.list_pipelines() == []
    assert creates(settings) == 0


async def test_a_live_model_draws_its_keyframes_with_the_configured_image_model(
    settings: Settings,
) -> None:
    fal = FakeFalQueue(b"")
    fal.speed, fal.queue_seconds, fal.render_seconds = 40.0, 2.0, 8.0
    images = QuickFal(key=fal.key, queue_url=QUEUE, api_url=API, transport=fal.transport())
    fake = FakeProvider(steps=1)
    request = LongRequest(
        "a lantern drifts upriver", 8, segments=2, model="frames-1", mode="keyframes"
    )
    flux = settings.model_copy(update={"image_model": "fal/flux-schnell"})
    providers = {"fake": fake, "fal": images}
    async with await Engine.open(flux, providers=providers) as engine:
        engine.catalog = Catalog([FRAMES, *fal_image_models(flux)])
        flux_entry = engine.catalog.resolve("fal/flux-schnell")
        price = flux_entry.capabilities.price(keyframe_size(flux_entry, "1280x720"), 0)
        assert price is not None and price > 0
        assert LongVideos(engine).keyframes_cost(request, FRAMES, 2) == pytest.approx(2 * price)
        result = await LongVideos(engine).generate(request)
    assert [job.model for job in result.keyframes] == ["fal/flux-schnell"] * 2
    assert [job.cost for job in result.keyframes] == [pytest.approx(price)] * 2
    assert all(
        job.size == "1024x576" and job.status is JobStatus.COMPLETED for job in result.keyframes
    )
    submits = [json.loads(call.content) for call in fal.calls("submit")]
    assert len(submits) == 2  # one fal request per keyframe
    assert all(body["image_size"] == {"width": 1024, "height": 576} for body in submits)
    assert {body["prompt"] for body in submits} == {
        f"A single film frame, no text: {segment.prompt}" for segment in result.plan.segments
    }
    # The segments render at once, so their requests arrive in either order.
    first, second = sorted(fake.requests, key=lambda r: r.last_frame is None)
    stills = sorted((result.folder / "keyframes").iterdir())
    assert first.reference is not None and first.reference.data == stills[0].read_bytes()
    assert (first.reference.width, first.reference.height) == (1280, 720)
    # A model that takes a last frame ends segment 1 on segment 2's keyframe: a seamless join.
    assert first.last_frame is not None and first.last_frame.data == stills[1].read_bytes()
    assert second.last_frame is None and second.reference is not None
    assert second.reference.data == stills[1].read_bytes()


@pytest.mark.parametrize(
    ("image_model", "words"),
    [
        ("no-such-image", "SORAKIT_IMAGE_MODEL=no-such-image, which is not a model here"),
        ("frames-1", "SORAKIT_IMAGE_MODEL=frames-1 makes videos"),
        ("gpt-image-1", "SORAKIT_IMAGE_MODEL=gpt-image-1 is the offline simulator here"),
    ],
)
async def test_an_image_model_that_cannot_draw_the_keyframes_is_refused_readably(
    settings: Settings, image_model: str, words: str
) -> None:
    configured = settings.model_copy(update={"image_model": image_model})
    request = LongRequest("a kite", 8, segments=2, model="frames-1", mode="keyframes")
    async with await Engine.open(configured, providers={"fake": FakeProvider()}) as engine:
        engine.catalog = Catalog([FRAMES, *engine.catalog.images()])
        with pytest.raises(ConfigurationError, match=words):
            await LongVideos(engine).start(request)
        assert await engine.ledger.list_pipelines() == []


def test_the_keyframe_size_is_the_image_size_nearest_the_videos_shape(settings: Settings) -> None:
    catalog = Catalog(fal_image_models(settings))
    flux = catalog.resolve("fal/flux-dev")
    assert keyframe_size(flux, "1280x720") == "1024x576"  # 16:9, the largest there is
    assert keyframe_size(flux, "720x1280") == "576x1024"
    assert keyframe_size(flux, "480x480") == "512x512"  # the smallest square that covers it
    assert keyframe_size(flux, "1024x1024") == "1024x1024"
    assert keyframe_size(flux, "1500x1000") == "1536x1024"  # 3:2, the smallest that covers
