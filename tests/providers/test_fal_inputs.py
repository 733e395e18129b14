"""Last frames, reference images and per-clip prices on fal, through the adapter and its fake."""

from __future__ import annotations

import base64
from dataclasses import replace
from typing import Any

import pytest

from sorakit.catalog.fal import fal_models
from sorakit.errors import InvalidRequestError, ProviderBadRequestError
from sorakit.providers.base import ReferenceImage
from sorakit.providers.fal import FAL_MODELS, FalProvider
from tests.providers.fal_fake import FakeFalQueue, generate, sent

FIRST = ReferenceImage(b"\x89PNG\r\n\x1a\nfirst", "image/png", 1920, 1080)
LAST = ReferenceImage(b"\x89PNG\r\n\x1a\nlast", "image/png", 1920, 1080)


def uri(image: ReferenceImage) -> str:
    return f"data:{image.media_type};base64," + base64.b64encode(image.data).decode()


def subject(n: int) -> ReferenceImage:
    return ReferenceImage(f"subject {n}".encode(), "image/jpeg", 512, 512 + n)


# -- last frames ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "size", "seconds", "endpoint", "first_key"),
    [
        (
            "kling-video/v3/pro",
            "1920x1080",
            5,
            "fal-ai/kling-video/v3/pro/image-to-video",
            "start_image_url",
        ),
        ("wan/v2.7", "1280x720", 5, "fal-ai/wan/v2.7/image-to-video", "image_url"),
        ("ltx-2.3", "1920x1080", 6, "fal-ai/ltx-2.3/image-to-video", "image_url"),
    ],
)
async def test_a_last_frame_rides_as_end_image_url_on_image_to_video(
    provider: FalProvider,
    fake: FakeFalQueue,
    model: str,
    size: str,
    seconds: int,
    endpoint: str,
    first_key: str,
) -> None:
    await provider.submit(
        generate(model, size=size, seconds=seconds, reference=FIRST, last_frame=LAST)
    )
    sent_endpoint, body = sent(fake)
    assert sent_endpoint == endpoint
    assert body[first_key] == uri(FIRST)
    assert body["end_image_url"] == uri(LAST)
    assert len(fake.jobs) == 1  # the fake's schema accepted it


async def test_veo_takes_first_and_last_frames_on_its_own_endpoint(
    provider: FalProvider, fake: FakeFalQueue
) -> None:
    job = await provider.submit(
        generate("veo3.1", size="1280x720", seconds=8, reference=FIRST, last_frame=LAST)
    )
    endpoint, body = sent(fake)
    assert endpoint == "fal-ai/veo3.1/first-last-frame-to-video"
    assert body == {
        "prompt": "a calico cat playing a piano",
        "duration": "8s",
        "first_frame_url": uri(FIRST),
        "last_frame_url": uri(LAST),
        "aspect_ratio": "16:9",
        "resolution": "720p",
        "generate_audio": True,
    }
    fake.advance(3600)
    assert (await provider.retrieve(job.id)).status == "completed"
    assert fake.calls("status")[-1].url.path.startswith("/fal-ai/veo3.1/requests/")
    await provider.submit(generate("veo3.1", size="1280x720", seconds=8, reference=FIRST))
    assert sent(fake)[0] == "fal-ai/veo3.1/image-to-video"  # no last frame: plain i2v


@pytest.mark.parametrize("model", ["kling-video/v3/pro", "wan/v2.7", "ltx-2.3", "veo3.1"])
async def test_a_last_frame_without_a_first_is_refused(
    provider: FalProvider, fake: FakeFalQueue, model: str
) -> None:
    caps = next(e for e in fal_models() if e.provider_model == model).capabilities
    request = generate(model, size=caps.default_size, seconds=caps.default_seconds)
    with pytest.raises(InvalidRequestError, match="only with a first frame") as caught:
        await provider.submit(replace(request, last_frame=LAST))
    assert caught.value.param == "last_frame"
    assert not fake.seen


@pytest.mark.parametrize("model", sorted(k for k, m in FAL_MODELS.items() if not m.last_frame))
async def test_models_without_a_last_frame_refuse_one(
    provider: FalProvider, fake: FakeFalQueue, model: str
) -> None:
    caps = next(e for e in fal_models() if e.provider_model == model).capabilities
    w, h = (int(v) for v in caps.default_size.split("x"))
    request = generate(
        model,
        size=caps.default_size,
        seconds=caps.default_seconds,
        reference=replace(FIRST, width=w, height=h),
        last_frame=replace(LAST, width=w, height=h),
    )
    with pytest.raises(InvalidRequestError, match="takes no last frame"):
        await provider.submit(request)
    assert not fake.seen


def test_the_catalog_marks_last_frames_exactly_where_the_maps_send_one() -> None:
    marked = {e.provider_model for e in fal_models() if e.capabilities.last_frame}
    assert marked == {"kling-video/v3/pro", "wan/v2.7", "ltx-2.3", "veo3.1"}


# -- reference images -------------------------------------------------------------------------


async def test_seedance_sends_reference_images_to_reference_to_video(
    provider: FalProvider, fake: FakeFalQueue
) -> None:
    images = tuple(subject(n) for n in range(9))
    job = await provider.submit(
        generate("seedance-2.0", size="1280x720", seconds=5, reference_images=images)
    )
    endpoint, body = sent(fake)
    assert endpoint == "bytedance/seedance-2.0/reference-to-video"
    assert body["image_urls"] == [uri(i) for i in images]
    assert (body["aspect_ratio"], body["resolution"], body["duration"]) == ("16:9", "720p", "5")
    fake.advance(3600)
    assert (await provider.retrieve(job.id)).status == "completed"
    await provider.submit(
        generate("seedance-2.0/fast", size="720x1280", seconds=4, reference_images=images[:2])
    )
    assert sent(fake)[0] == "bytedance/seedance-2.0/fast/reference-to-video"


@pytest.mark.parametrize(
    ("model", "size", "seconds", "endpoint", "extra"),
    [
        ("veo3.1", "1920x1080", 8, "fal-ai/veo3.1/reference-to-video", {"resolution": "1080p"}),
        ("gemini-omni-flash", "720x1280", 6, "google/gemini-omni-flash/reference-to-video", {}),
    ],
)
async def test_veo_and_omni_take_image_urls(
    provider: FalProvider,
    fake: FakeFalQueue,
    model: str,
    size: str,
    seconds: int,
    endpoint: str,
    extra: dict[str, Any],
) -> None:
    images = (subject(1), subject(2), subject(3))
    await provider.submit(generate(model, size=size, seconds=seconds, reference_images=images))
    sent_endpoint, body = sent(fake)
    assert sent_endpoint == endpoint
    assert body["image_urls"] == [uri(i) for i in images]
    assert body["aspect_ratio"] == ("16:9" if size == "1920x1080" else "9:16")
    assert {k: body[k] for k in extra} == extra
    assert len(fake.jobs) == 1


@pytest.mark.parametrize("entry", fal_models(), ids=lambda e: e.name)
async def test_reference_caps_are_the_catalogs_and_one_more_is_refused(
    provider: FalProvider, fake: FakeFalQueue, entry: Any
) -> None:
    caps = entry.capabilities
    base = generate(entry.provider_model, size=caps.default_size, seconds=caps.default_seconds)
    if caps.reference_images:
        await provider.submit(
            replace(base, reference_images=tuple(subject(n) for n in range(caps.reference_images)))
        )
        assert len(fake.jobs) == 1  # the fake's own cap agrees with the catalog's
    too_many = tuple(subject(n) for n in range(caps.reference_images + 1))
    with pytest.raises(InvalidRequestError) as caught:
        await provider.submit(replace(base, reference_images=too_many))
    assert caught.value.param == "reference_images"
    assert len(fake.calls("submit")) == (1 if caps.reference_images else 0)


def test_the_catalog_lists_reference_images_exactly_for_reference_to_video_models() -> None:
    caps = {e.provider_model: e.capabilities.reference_images for e in fal_models()}
    assert {k: v for k, v in caps.items() if v} == {
        "seedance-2.0": 9,
        "seedance-2.0/fast": 9,
        "veo3.1": 3,
        "gemini-omni-flash": 3,
    }


async def test_frames_and_reference_images_together_are_refused(
    provider: FalProvider, fake: FakeFalQueue
) -> None:
    request = generate("veo3.1", size="1920x1080", seconds=8, reference_images=(subject(1),))
    with pytest.raises(InvalidRequestError, match="not both"):
        await provider.submit(replace(request, reference=FIRST))
    with pytest.raises(InvalidRequestError, match="no last frame or reference images"):
        await provider.submit(
            replace(request, kind="extend", size="1280x720", seconds=7, source_id="video_1")
        )
    assert not fake.seen


async def test_the_fake_refuses_more_images_than_the_model_takes(
    provider: FalProvider, fake: FakeFalQueue, monkeypatch: pytest.MonkeyPatch
) -> None:
    veo = FAL_MODELS["veo3.1"]
    monkeypatch.setitem(FAL_MODELS, "veo3.1", replace(veo, max_references=4))
    images = tuple(subject(n) for n in range(4))
    with pytest.raises(ProviderBadRequestError, match="at most 3 items"):
        await provider.submit(
            generate("veo3.1", size="1280x720", seconds=8, reference_images=images)
        )


# -- per-clip prices --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "prices"),
    [
        ("fal/hailuo-2.3", {("1366x768", 6): 0.28, ("1366x768", 10): 0.56}),
        ("fal/hailuo-2.3-pro", {("1920x1080", 6): 0.49}),
    ],
)
def test_hailuo_is_priced_per_clip(name: str, prices: dict[tuple[str, int], float]) -> None:
    hailuo = next(e for e in fal_models() if e.name == name).capabilities
    assert hailuo.price_per_clip == prices
    assert not hailuo.price_per_second
    for (size, seconds), price in prices.items():
        assert hailuo.price(size, seconds) == pytest.approx(price)
    assert set(hailuo.price_per_clip) == {(s, n) for s in hailuo.sizes for n in hailuo.seconds}


async def test_hailuo_pro_sends_no_duration(provider: FalProvider, fake: FakeFalQueue) -> None:
    await provider.submit(generate("minimax/hailuo-2.3/pro", size="1920x1080", seconds=6))
    assert sent(fake) == (
        "fal-ai/minimax/hailuo-2.3/pro/text-to-video",
        {"prompt": "a calico cat playing a piano"},
    )
    with pytest.raises(InvalidRequestError, match="cannot make 10 seconds"):
        await provider.submit(generate("minimax/hailuo-2.3/pro", size="1920x1080", seconds=10))
