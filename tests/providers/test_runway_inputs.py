"""Runway inputs and accounting: last frames, reference images, callbacks, lost-create lookup and
the real cost in the ledger, through the runwayml SDK against the fake."""

from __future__ import annotations

import inspect
import io
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import av
import httpx
import pytest
import runwayml
from PIL import Image

from sorakit.catalog.catalog import Catalog
from sorakit.catalog.runway import BY_MODEL, USD_PER_CREDIT, runway_models
from sorakit.engine import Engine
from sorakit.errors import InvalidRequestError
from sorakit.ledger import JobRecord, JobStatus, Ledger
from sorakit.providers.registry import ProviderPool
from sorakit.providers.runway import RunwayProvider
from sorakit.settings import Settings
from tests.providers.runway_fake import BASE_URL, MODELS, FakeRunwayAPI
from tests.providers.test_runway import QuickRunway, make_provider, read_all
from tests.providers.test_runway_models import png, request, uri


@pytest.fixture
def fake(tmp_path: Path) -> FakeRunwayAPI:
    return FakeRunwayAPI(workdir=tmp_path / "fake")


@pytest.fixture
async def provider(fake: FakeRunwayAPI) -> AsyncIterator[RunwayProvider]:
    p = make_provider(fake)
    yield p
    await p.aclose()


@pytest.fixture
async def client(fake: FakeRunwayAPI) -> AsyncIterator[runwayml.AsyncRunwayML]:
    async with httpx.AsyncClient(transport=fake.transport()) as http:
        yield runwayml.AsyncRunwayML(
            api_key=fake.api_secret, base_url=BASE_URL, http_client=http, max_retries=0
        )


# -- last frames -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "size", "seconds"),
    [
        ("veo3.1", "1280x720", 8),
        ("kling3.0_standard", "960x960", 5),
        ("seedance2", "1920x1080", 4),
        ("gemini_omni_flash_1.1", "720x1280", 4),
        ("hailuo3", "1366x768", 6),
        ("wan3", "1280x720", 5),
        ("kling_4", "720x1280", 3),
    ],
)
async def test_a_last_frame_follows_the_first_in_prompt_image(
    provider: RunwayProvider, fake: FakeRunwayAPI, model: str, size: str, seconds: int
) -> None:
    first, last = png(size), png(size, (30, 30, 220))
    job = await provider.submit(request(model, size, seconds, reference=first, last_frame=last))
    (call,) = fake.calls("POST", "/v1/image_to_video")
    assert call.body["promptImage"] == [
        {"uri": uri(first), "position": "first"},
        {"uri": uri(last), "position": "last"},
    ]
    fake.advance(60)
    data, _ = await read_all(provider, job.id)
    with av.open(io.BytesIO(data), "r") as container:
        frame = next(container.decode(video=0)).to_image()  # type: ignore[no-untyped-call]
    red, _green, blue = frame.getpixel((5, 5))
    assert red > 150 and blue < 100  # the first frame opens the clip


@pytest.mark.parametrize(
    ("model", "overrides", "match"),
    [
        ("gen4.5", {"reference": "first", "last_frame": "last"}, "takes no last frame"),
        ("happyhorse_1_0", {"reference": "first", "last_frame": "last"}, "takes no last frame"),
        ("grok_imagine_1_5", {"reference": "first", "last_frame": "last"}, "no last frame"),
        ("veo3.1", {"last_frame": "last"}, "only after a first frame"),
    ],
)
async def test_a_last_frame_a_model_cannot_take_is_refused_before_sending(
    provider: RunwayProvider,
    fake: FakeRunwayAPI,
    model: str,
    overrides: dict[str, str],
    match: str,
) -> None:
    spec = BY_MODEL[model]
    size = spec.sizes[0]
    images = {key: png(size) for key in overrides}
    seconds = spec.durations[0]
    with pytest.raises(InvalidRequestError, match=match) as caught:
        await provider.submit(request(model, size, seconds, **images))
    assert caught.value.param == "last_frame" and fake.requests == []


async def test_the_fake_refuses_a_last_position_where_the_schema_has_none(
    client: runwayml.AsyncRunwayML, fake: FakeRunwayAPI
) -> None:
    frames = [
        {"uri": "https://x.test/a.png", "position": "first"},
        {"uri": "https://x.test/b.png", "position": "last"},
    ]
    with pytest.raises(runwayml.BadRequestError, match="Invalid position 'last'"):
        await client.image_to_video.create(  # type: ignore[call-overload]
            model="gen4.5",
            prompt_image=frames,
            ratio="1280:720",
            duration=5,
        )
    assert fake.tasks == {}


# -- reference images ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "size", "seconds", "count"),
    [
        ("seedance2", "1280x720", 5, 9),
        ("gemini_omni_flash_1.1", "1280x720", 5, 3),
        ("hailuo3", "1366x768", 6, 9),
        ("wan3_prime", "1280x720", 5, 10),
        ("grok_imagine_1_5", "1280x720", 5, 2),
    ],
)
async def test_reference_images_go_to_references_on_text_to_video(
    provider: RunwayProvider, fake: FakeRunwayAPI, model: str, size: str, seconds: int, count: int
) -> None:
    subjects = tuple(png("512x384", (10 * i, 100, 100)) for i in range(count))
    await provider.submit(request(model, size, seconds, reference_images=subjects))
    (call,) = fake.calls("POST", "/v1/text_to_video")
    assert call.body["references"] == [{"uri": uri(image)} for image in subjects]
    assert len(fake.tasks) == 1


@pytest.mark.parametrize(
    ("model", "size", "overrides", "param", "match"),
    [
        ("gen4.5", "1280x720", {"count": 1}, "reference_images", "takes no reference images"),
        ("veo3.1", "1280x720", {"count": 1}, "reference_images", "takes no reference images"),
        ("seedance2", "1280x720", {"count": 10}, "reference_images", "at most 9"),
        ("wan3", "1280x720", {"count": 1, "first": True}, "reference_images", "without a first"),
        ("grok_imagine_1_5", "1904x1072", {"count": 1}, "size", "only at 480p, 720p"),
        ("kling_4", "1280x720", {"count": 11}, "reference_images", "at most 10 reference"),
        ("kling_4", "1280x720", {"count": 10, "first": True}, "reference_images", "with its"),
    ],
)
async def test_reference_images_a_model_cannot_take_are_refused_before_sending(
    provider: RunwayProvider,
    fake: FakeRunwayAPI,
    model: str,
    size: str,
    overrides: dict[str, Any],
    param: str,
    match: str,
) -> None:
    subjects = tuple(png("256x256") for _ in range(overrides["count"]))
    first = png(size) if overrides.get("first") else None
    seconds = BY_MODEL[model].durations[0]
    with pytest.raises(InvalidRequestError, match=match) as caught:
        await provider.submit(
            request(model, size, seconds, reference_images=subjects, reference=first)
        )
    assert caught.value.param == param and fake.requests == []


async def test_kling_4_takes_references_beside_its_frames(
    provider: RunwayProvider, fake: FakeRunwayAPI
) -> None:
    first, last = png("1280x720"), png("1280x720", (30, 30, 220))
    subjects = tuple(png("400x400", (10 * i, 90, 90)) for i in range(8))  # 8 + 2 frames = 10
    await provider.submit(
        request(
            "kling_4", "1280x720", 5, reference=first, last_frame=last, reference_images=subjects
        )
    )
    (call,) = fake.calls("POST", "/v1/image_to_video")
    assert [frame["position"] for frame in call.body["promptImage"]] == ["first", "last"]
    assert call.body["references"] == [{"uri": uri(image)} for image in subjects]
    assert call.body["ratio"] == "auto_720p" and len(fake.tasks) == 1


async def test_the_fake_counts_kling_4_frames_against_its_ten_images(
    client: runwayml.AsyncRunwayML, fake: FakeRunwayAPI
) -> None:
    with pytest.raises(runwayml.BadRequestError, match="At most 10"):
        await client.post(
            "/v1/image_to_video",
            body={
                "model": "kling_4",
                "promptImage": [{"uri": "https://x.test/a.png", "position": "first"}],
                "references": [{"uri": "https://x.test/r.png"}] * 10,
            },
            cast_to=object,
        )
    assert fake.tasks == {}


async def test_an_omni_extend_takes_references_but_no_last_frame(
    provider: RunwayProvider, fake: FakeRunwayAPI
) -> None:
    source = await provider.submit(request("gemini_omni_flash_1.1", "1280x720", 4))
    fake.advance(60)
    extend = {"kind": "extend", "source_id": source.id}
    with pytest.raises(InvalidRequestError, match="no last frame in an extend") as caught:
        await provider.submit(
            request("gemini_omni_flash_1.1", "1280x720", 4, last_frame=png("1280x720"), **extend)
        )
    assert caught.value.param == "last_frame"
    subjects = (png("300x300"), png("300x300", (0, 0, 255)))
    await provider.submit(
        request("gemini_omni_flash_1.1", "1280x720", 4, reference_images=subjects, **extend)
    )
    (call,) = fake.calls("POST", "/v1/video_to_video")
    assert call.body["mode"] == "extend"
    assert call.body["references"] == [{"uri": uri(image)} for image in subjects]


# -- callbacks and lost creates --------------------------------------------------------------


async def test_a_callback_url_is_not_sent_since_runway_has_no_task_webhook(
    provider: RunwayProvider, fake: FakeRunwayAPI
) -> None:
    await provider.submit(request("veo3.1_fast", "1280x720", 4, callback_url="https://h.test/cb"))
    (call,) = fake.calls("POST", "/v1/text_to_video")
    assert "https://h.test/cb" not in str(call.body) and len(fake.tasks) == 1
    for resource in (
        runwayml.resources.text_to_video.AsyncTextToVideoResource,
        runwayml.resources.image_to_video.AsyncImageToVideoResource,
    ):
        params = inspect.signature(resource.create).parameters
        assert not [name for name in params if "hook" in name or "callback" in name]


async def test_find_cannot_look_a_lost_create_up_since_tasks_cannot_be_listed(
    provider: RunwayProvider, fake: FakeRunwayAPI, client: runwayml.AsyncRunwayML
) -> None:
    await provider.submit(request("gen4.5", "1280x720", 5))
    found = await provider.find(request("gen4.5", "1280x720", 5), since=0.0)
    assert found is None and len(fake.requests) == 1  # nothing was asked
    assert not hasattr(client.tasks, "list")


# -- real cost -------------------------------------------------------------------------------


@pytest.mark.parametrize(("model", "seconds"), [("veo3.1", 6), ("seedance2", 12)])
async def test_a_completed_task_costs_its_reported_credits(
    provider: RunwayProvider, fake: FakeRunwayAPI, model: str, seconds: int
) -> None:
    job = await provider.submit(request(model, BY_MODEL[model].sizes[0], seconds))
    assert (await provider.retrieve(job.id)).cost is None  # only an estimate so far
    fake.advance(60)
    task_id = job.id.rsplit("|", 1)[1]
    credits = fake._task_json(fake.tasks[task_id])["cost"]["credits"]
    assert credits == MODELS[model].credits_per_second * seconds
    assert (await provider.retrieve(job.id)).cost == pytest.approx(credits * USD_PER_CREDIT)


async def _ledger_job(
    settings: Settings, fake: FakeRunwayAPI, prompt: str, model: str, seconds: int
) -> JobRecord:
    """One job at 1280x720 driven by the engine to its end."""
    fake.speed, fake.queue_seconds, fake.render_seconds = 40.0, 2.0, 8.0
    provider = QuickRunway(
        api_secret=fake.api_secret, base_url=BASE_URL, transport=fake.transport()
    )
    ledger = await Ledger.open(settings.ledger_url)
    pool = ProviderPool(settings, instances={"runway": provider})
    catalog = Catalog(runway_models())
    async with Engine(settings, ledger, catalog=catalog, providers=pool) as engine:
        job = await engine.create(prompt, model=model, seconds=seconds, size="1280x720")
        return await engine.wait(job.id)


async def test_the_ledger_records_runways_cost_for_a_completed_job(
    settings: Settings, fake: FakeRunwayAPI
) -> None:
    done = await _ledger_job(settings, fake, "a cat", "runway/kling3.0_standard", 5)
    assert done.status is JobStatus.COMPLETED and done.estimated_cost is None  # no list price
    assert done.cost == pytest.approx(50 * USD_PER_CREDIT)  # the 50 credits the task reported


async def test_the_ledger_records_runways_zero_cost_for_a_failed_job(
    settings: Settings, fake: FakeRunwayAPI
) -> None:
    failed = await _ledger_job(settings, fake, "something forbidden", "runway/veo3.1", 6)
    assert failed.status is JobStatus.FAILED and failed.error_code == "moderation_blocked"
    assert failed.estimated_cost == pytest.approx(2.40)
    assert failed.cost == 0.0  # Runway billed 0 credits


async def test_the_engine_sends_a_last_frame_and_references_through_runway(
    settings: Settings, fake: FakeRunwayAPI
) -> None:
    fake.speed, fake.queue_seconds, fake.render_seconds = 40.0, 2.0, 8.0
    provider = QuickRunway(
        api_secret=fake.api_secret, base_url=BASE_URL, transport=fake.transport()
    )
    ledger = await Ledger.open(settings.ledger_url)
    pool = ProviderPool(settings, instances={"runway": provider})
    first = Image.new("RGB", (640, 360), (220, 30, 30))
    last = Image.new("RGB", (640, 360), (30, 30, 220))
    subject = Image.new("RGB", (300, 300), (30, 200, 30))
    async with Engine(settings, ledger, catalog=Catalog(runway_models()), providers=pool) as engine:
        framed = await engine.create(
            "dawn to dusk",
            model="runway/wan3",
            seconds=5,
            size="1280x720",
            reference=first,
            last_frame=last,
        )
        styled = await engine.create(
            "in this style", model="runway/seedance2", seconds=5, reference_images=[subject]
        )
        done = [await engine.wait(framed.id), await engine.wait(styled.id)]
    assert [job.status for job in done] == [JobStatus.COMPLETED] * 2
    image_call, text_call = fake.calls("POST", "/v1/image_to_video"), fake.calls("POST", "/v1/t")
    (frames,) = [c.body["promptImage"] for c in image_call]
    assert [f["position"] for f in frames] == ["first", "last"] and image_call[0].body["ratio"] == (
        "auto_720p"
    )
    (references,) = [c.body["references"] for c in text_call]
    assert len(references) == 1 and references[0]["uri"].startswith("data:image/")
