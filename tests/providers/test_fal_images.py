"""fal's image models through the fal provider, against the queue fake's image endpoints."""

from __future__ import annotations

import io
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from PIL import Image

from sorakit.catalog.capabilities import ModelEntry
from sorakit.catalog.catalog import Catalog
from sorakit.catalog.fal_images import fal_image_models
from sorakit.engine import Engine
from sorakit.errors import InvalidRequestError, RateLimitedError
from sorakit.ledger import JobStatus, Ledger
from sorakit.providers.base import ReferenceImage, SubmitRequest
from sorakit.providers.fal import FalProvider, RemoteRef
from sorakit.providers.fal._images import FAL_IMAGE_MODELS
from sorakit.providers.registry import ProviderPool
from sorakit.settings import Settings
from tests.providers.fal_fake import (
    API,
    MODERATION_WORD,
    QUEUE,
    FakeFalQueue,
    Fault,
    QuickFal,
    sent,
)


def png(size: tuple[int, int], color: str = "blue") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, format="PNG")
    return out.getvalue()


def image_request(model: str = "flux/schnell", **overrides: object) -> SubmitRequest:
    fields: dict[str, object] = {
        "kind": "image",
        "model": model,
        "prompt": "a lighthouse at dusk",
        "seconds": 0,
        "size": "1024x1024",
        "idempotency_key": "img-key-1",
    }
    fields.update(overrides)
    return SubmitRequest(**fields)  # type: ignore[arg-type]


async def image_of(provider: FalProvider, remote_id: str) -> tuple[bytes, str]:
    async with provider.download(remote_id, "image") as stream:
        return b"".join([chunk async for chunk in stream.chunks]), stream.media_type


@pytest.fixture
async def fast(fake: FakeFalQueue) -> AsyncIterator[FakeFalQueue]:
    fake.queue_seconds, fake.render_seconds = 1.0, 3.0
    yield fake


# -- submit: the input maps -------------------------------------------------------------------


async def test_flux_gets_width_and_height_one_image_and_the_safety_checker(
    provider: FalProvider, fake: FakeFalQueue
) -> None:
    job = await provider.submit(image_request(size="1536x1024", output_format="jpeg"))
    assert sent(fake) == (
        "fal-ai/flux/schnell",
        {
            "prompt": "a lighthouse at dusk",
            "num_images": 1,
            "image_size": {"width": 1536, "height": 1024},
            "output_format": "jpeg",
            "enable_safety_checker": True,
        },
    )
    assert job.status == "queued" and RemoteRef.parse(job.id).endpoint == "fal-ai/flux/schnell"
    assert (
        provider.expected_render_seconds(image_request())
        == FAL_IMAGE_MODELS["flux/schnell"].render_seconds
    )


async def test_nano_banana_edits_go_to_the_edit_endpoint_as_data_uris(
    provider: FalProvider, fake: FakeFalQueue
) -> None:
    inputs = tuple(ReferenceImage(png((64, 48)), "image/png", 64, 48) for _ in range(2))
    await provider.submit(
        image_request(
            "nano-banana-2", size="1376x768", output_format="webp", reference_images=inputs
        )
    )
    endpoint, body = sent(fake)
    assert endpoint == "fal-ai/nano-banana-2/edit"
    urls = body.pop("image_urls")
    assert isinstance(urls, list) and len(urls) == 2
    assert all(url.startswith("data:image/png;base64,") for url in urls)
    assert body == {
        "prompt": "a lighthouse at dusk",
        "num_images": 1,
        "aspect_ratio": "16:9",
        "resolution": "1K",
        "output_format": "webp",
    }
    await provider.submit(image_request("nano-banana-2", size="4096x4096"))
    assert sent(fake)[0] == "fal-ai/nano-banana-2"
    assert sent(fake)[1]["resolution"] == "4K"


@pytest.mark.parametrize(
    ("overrides", "param"),
    [
        ({"output_format": "webp"}, "output_format"),
        ({"size": "1376x768"}, "size"),
        ({"reference_images": (ReferenceImage(b"x", "image/png", 1, 1),)}, "image"),
        ({"mask": ReferenceImage(b"x", "image/png", 1, 1)}, "mask"),
        (
            {
                "model": "nano-banana-2",
                "reference_images": (ReferenceImage(b"x", "image/png", 1, 1),) * 15,
            },
            "image",
        ),
        ({"model": "flux/pro"}, "model"),
    ],
)
async def test_requests_a_model_cannot_take_are_refused_before_sending(
    provider: FalProvider, fake: FakeFalQueue, overrides: dict[str, object], param: str
) -> None:
    with pytest.raises(InvalidRequestError) as refused:
        await provider.submit(image_request(**overrides))
    assert refused.value.param == param
    assert fake.calls("submit") == []


async def test_every_catalog_size_passes_the_fake_schema(
    provider: FalProvider, fake: FakeFalQueue
) -> None:
    for entry in fal_image_models(Settings()):
        for size in entry.capabilities.sizes:
            await provider.submit(
                image_request(entry.provider_model, size=size, output_format="png")
            )
    submits = fake.calls("submit")
    assert len(submits) == sum(len(e.capabilities.sizes) for e in fal_image_models(Settings()))
    assert len(fake.jobs) == len(submits)  # every one queued: no 422 from the fake's schemas


# -- retrieve and download --------------------------------------------------------------------


async def test_a_finished_image_is_retrieved_and_streamed_from_its_url(
    provider: FalProvider, fake: FakeFalQueue
) -> None:
    job = await provider.submit(
        image_request("nano-banana-2", size="768x1376", output_format="jpeg")
    )
    assert (await provider.retrieve(job.id)).status == "queued"
    fake.advance(120)
    done = await provider.retrieve(job.id)
    assert done.status == "completed" and done.progress == 100
    data, media_type = await image_of(provider, job.id)
    with Image.open(io.BytesIO(data)) as picture:
        assert (picture.format, picture.size) == ("JPEG", (768, 1376))
    assert media_type == "image/jpeg"
    assert fake.calls("media")[-1].headers.get("authorization") is None
    with pytest.raises(InvalidRequestError, match="only the image"):
        async with provider.download(job.id, "video"):
            pass


async def test_flux_safety_flag_fails_the_job_as_moderation_blocked(
    provider: FalProvider, fake: FakeFalQueue
) -> None:
    job = await provider.submit(image_request(prompt=f"a {MODERATION_WORD} scene"))
    fake.advance(120)
    failed = await provider.retrieve(job.id)
    assert failed.status == "failed" and failed.error_code == "moderation_blocked"
    assert "has_nsfw_concepts" in (failed.error_message or "")


async def test_nano_banana_content_filter_keeps_fal_reason(
    provider: FalProvider, fake: FakeFalQueue
) -> None:
    job = await provider.submit(image_request("nano-banana-2", prompt=f"a {MODERATION_WORD} scene"))
    fake.advance(120)
    failed = await provider.retrieve(job.id)
    assert failed.status == "failed" and failed.error_code == "moderation_blocked"
    assert "content checker" in (failed.error_message or "")


async def test_a_429_on_submit_is_rate_limited_with_retry_after(
    provider: FalProvider, fake: FakeFalQueue
) -> None:
    fake.fail("submit", Fault(429, {"detail": "Too many requests"}, {"retry-after": "7"}))
    with pytest.raises(RateLimitedError) as limited:
        await provider.submit(image_request())
    assert limited.value.retry_after == 7
    assert fake.jobs == {}


# -- the engine drives it end to end ---------------------------------------------------------


def _entry(name: str) -> ModelEntry:
    return next(e for e in fal_image_models(Settings()) if e.name == name)


@pytest.mark.parametrize(
    ("model", "size", "images", "cost"),
    [
        ("fal/flux-dev", "1024x1024", 0, 0.026214),  # $0.025 per megapixel
        ("fal/nano-banana-2", "2048x2048", 0, 0.12),  # $0.08 x 1.5 at 2K
        ("fal/nano-banana-2", "1024x1024", 2, 0.08),  # an edit of two images
    ],
)
async def test_the_engine_makes_records_and_archives_fal_images(
    settings: Settings, fake: FakeFalQueue, model: str, size: str, images: int, cost: float
) -> None:
    fake.speed, fake.queue_seconds, fake.render_seconds = 40.0, 2.0, 8.0
    provider = QuickFal(key=fake.key, queue_url=QUEUE, api_url=API, transport=fake.transport())
    ledger = await Ledger.open(settings.ledger_url)
    pool = ProviderPool(settings, instances={"fal": provider})
    catalog = Catalog(fal_image_models(settings))
    inputs = [png((320, 240), "green") for _ in range(images)]
    async with Engine(settings, ledger, catalog=catalog, providers=pool) as engine:
        jobs = await engine.create_image("a red kite", model=model, size=size, images=inputs)
        [done] = await engine.wait_images(jobs, timeout=60)
    assert done.status is JobStatus.COMPLETED and done.kind == "image"
    assert done.cost == pytest.approx(cost) == _entry(model).capabilities.price(size, 0)
    with Image.open(Path(done.assets["image"].path)) as picture:
        assert picture.size == tuple(int(v) for v in size.split("x"))
    endpoint = sent(fake)[0]
    assert endpoint.endswith("/edit") == bool(images)


def test_listing_the_image_models_imports_no_sdk() -> None:
    code = (
        "import sys; from sorakit.catalog.fal_images import fal_image_models; "
        "from sorakit.settings import Settings; fal_image_models(Settings()); "
        "assert 'fal_client' not in sys.modules and 'httpx' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_every_size_of_every_fal_image_model_has_a_price() -> None:
    for entry in fal_image_models(Settings()):
        caps = entry.capabilities
        assert caps.output == "image" and entry.provider == "fal"
        assert set(caps.sizes) == set(FAL_IMAGE_MODELS[entry.provider_model].sizes)
        assert all((caps.price(size, 0) or 0) > 0 for size in caps.sizes)
