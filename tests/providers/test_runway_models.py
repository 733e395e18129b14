"""Runway's routed models: the catalog against the fake, and sizes onto the pixel ratio, the
aspect and resolution tier or the `auto_<tier>` ratio each model takes, through the runwayml SDK."""

from __future__ import annotations

import base64
import io
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import av
import httpx
import pytest
import runwayml
from PIL import Image

from sorakit.catalog.runway import RUNWAY_MODELS, runway_models
from sorakit.errors import ProviderBadRequestError
from sorakit.providers.base import ReferenceImage, SubmitRequest
from sorakit.providers.runway import RunwayProvider
from sorakit.providers.runway._errors import translate
from tests.providers.runway_fake import BASE_URL, MODELS, FakeRunwayAPI
from tests.providers.test_runway import make_provider, read_all


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


_IMAGES: dict[tuple[int, int, tuple[int, int, int]], ReferenceImage] = {}


def png(size: str, color: tuple[int, int, int] = (200, 40, 40)) -> ReferenceImage:
    width, height = (int(v) for v in size.split("x"))
    key = (width, height, color)
    if key not in _IMAGES:
        buffer = io.BytesIO()
        Image.new("RGB", (width, height), color).save(buffer, format="PNG")
        _IMAGES[key] = ReferenceImage(buffer.getvalue(), "image/png", width, height)
    return _IMAGES[key]


def request(model: str, size: str, seconds: int, **overrides: Any) -> SubmitRequest:
    fields: dict[str, Any] = {
        "kind": "generate",
        "model": model,
        "prompt": "a horse galloping on a beach",
        "seconds": seconds,
        "size": size,
        "idempotency_key": "key-1",
    }
    return SubmitRequest(**(fields | overrides))


def uri(image: ReferenceImage) -> str:
    return f"data:{image.media_type};base64,{base64.b64encode(image.data).decode()}"


def without_images(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k not in ("promptImage", "references")}


# -- the catalog and the fake agree, model by model ------------------------------------------


@pytest.mark.parametrize("spec", RUNWAY_MODELS, ids=lambda spec: spec.model)
async def test_every_catalog_size_and_length_is_accepted_by_the_fake(
    provider: RunwayProvider, fake: FakeRunwayAPI, spec: Any
) -> None:
    caps = {entry.provider_model: entry.capabilities for entry in runway_models()}[spec.model]
    for size in caps.sizes:
        for reference in (None, png(size)):
            if (reference is None and not spec.text_to_video) or (
                reference is not None and not spec.image_to_video
            ):
                continue
            await provider.submit(
                request(spec.model, size, caps.default_seconds, reference=reference)
            )
    for seconds in caps.seconds:
        reference = None if spec.text_to_video else png(caps.default_size)
        await provider.submit(request(spec.model, caps.default_size, seconds, reference=reference))
    assert len(fake.tasks) == len(fake.calls("POST")) > len(caps.sizes)


def test_last_frames_and_references_match_what_the_api_takes() -> None:
    """`last_frame` and `reference_images` are set exactly where the SDK's schema allows them."""
    for spec in RUNWAY_MODELS:
        image = MODELS[spec.model].endpoints["image_to_video"]
        assert spec.last_frame == ("last" in image.positions), spec.model
        text = MODELS[spec.model].endpoints.get("text_to_video")
        takes_references = text is not None and "references" in text.optional
        assert (spec.reference_images > 0) == takes_references, spec.model
        if text is not None and text.max_references is not None:
            assert spec.reference_images == text.max_references, spec.model


# -- resolution-based models: exact bodies ---------------------------------------------------

_T2V_BODIES = [
    ("happyhorse_1_0", "1920x1080", 3, {"ratio": "1920:1080"}),
    ("hailuo3", "1366x768", 6, {"ratio": "16:9", "resolution": "768p"}),
    ("hailuo3", "1440x2560", 6, {"ratio": "9:16", "resolution": "2k"}),
    ("wan3", "832x480", 5, {"ratio": "832:480", "audio": True}),
    ("wan3_prime", "1080x1920", 2, {"ratio": "1080:1920", "audio": True}),
    ("grok_imagine_1_5", "1744x1152", 2, {"ratio": "3:2", "resolution": "1080p"}),
    ("grok_imagine_1_5", "480x848", 1, {"ratio": "9:16", "resolution": "480p"}),
    ("grok_imagine_1_5_lite", "720x960", 2, {"ratio": "720:960"}),
    ("kling_4", "1460x624", 3, {"ratio": "1460:624"}),
]
_I2V_BODIES = [
    ("happyhorse_1_0", "1108x832", 3, {"resolution": "720p"}),
    ("happyhorse_1_0", "1248x1662", 3, {"resolution": "1080p"}),
    ("hailuo3", "768x768", 6, {"ratio": "1:1", "resolution": "768p"}),
    ("wan3", "1648x1248", 2, {"ratio": "auto_1080p", "audio": True}),
    ("grok_imagine_1_5", "720x1280", 2, {"resolution": "720p"}),
    ("grok_imagine_1_5_lite", "1072x1904", 1, {"ratio": "auto_1080p"}),
    ("kling_4", "2200x940", 3, {"ratio": "auto_1080p"}),
]


@pytest.mark.parametrize(("model", "size", "seconds", "framing"), _T2V_BODIES)
async def test_text_to_video_frames_a_size_as_the_model_takes_it(
    provider: RunwayProvider,
    fake: FakeRunwayAPI,
    model: str,
    size: str,
    seconds: int,
    framing: dict[str, Any],
) -> None:
    job = await provider.submit(request(model, size, seconds))
    (call,) = fake.calls("POST", "/v1/text_to_video")
    prompt = "a horse galloping on a beach"
    assert call.body == {"model": model, "promptText": prompt, "duration": seconds, **framing}
    assert isinstance(call.body["duration"], int)
    assert (job.size, job.seconds) == (size, str(seconds))
    fake.advance(60)
    data, _ = await read_all(provider, job.id)
    with av.open(io.BytesIO(data), "r") as container:
        stream = container.streams.video[0]
        assert f"{stream.width}x{stream.height}" == size  # the model renders the asked size


@pytest.mark.parametrize(("model", "size", "seconds", "framing"), _I2V_BODIES)
async def test_image_to_video_frames_a_size_by_its_tier(
    provider: RunwayProvider,
    fake: FakeRunwayAPI,
    model: str,
    size: str,
    seconds: int,
    framing: dict[str, Any],
) -> None:
    first = png(size)
    job = await provider.submit(request(model, size, seconds, reference=first))
    (call,) = fake.calls("POST", "/v1/image_to_video")
    assert without_images(call.body) == {
        "model": model,
        "promptText": "a horse galloping on a beach",
        "duration": seconds,
        **framing,
    }
    assert call.body["promptImage"] == [{"uri": uri(first), "position": "first"}]
    fake.advance(60)
    data, _ = await read_all(provider, job.id)
    with av.open(io.BytesIO(data), "r") as container:
        stream = container.streams.video[0]
        assert f"{stream.width}x{stream.height}" == size


@pytest.mark.parametrize(
    ("model", "body", "fragment"),
    [
        ("happyhorse_1_0", {"promptImage": "https://x.test/a.png", "ratio": "1280:720"}, "ratio"),
        ("happyhorse_1_0", {"promptImage": "https://x.test/a.png", "resolution": "4k"}, "4k"),
        ("hailuo3", {"promptText": "x", "ratio": "adaptive"}, "adaptive"),
        ("hailuo3", {"promptText": "x", "resolution": "1080p"}, "resolution"),
        (
            "wan3",
            {"promptText": "x", "ratio": "1280:720", "promptImage": "https://x.test/a.png"},
            "auto_480p",
        ),
        (
            "grok_imagine_1_5",
            {
                "promptText": "x",
                "resolution": "1080p",
                "references": [{"uri": "https://x.test/a.png"}],
            },
            "720p",
        ),
        ("grok_imagine_1_5", {"promptText": "x", "duration": "5"}, "Expected number"),
        ("grok_imagine_1_5_lite", {"promptText": "x", "ratio": "16:9"}, "ratio"),
    ],
)
async def test_the_fake_refuses_bodies_the_real_api_refuses(
    client: runwayml.AsyncRunwayML,
    fake: FakeRunwayAPI,
    model: str,
    body: dict[str, Any],
    fragment: str,
) -> None:
    endpoint = "image_to_video" if "promptImage" in body else "text_to_video"
    with pytest.raises(runwayml.BadRequestError) as caught:
        await client.post(f"/v1/{endpoint}", body={"model": model, **body}, cast_to=object)
    error = translate(caught.value)
    assert isinstance(error, ProviderBadRequestError) and error.status_code == 400
    assert fragment in error.message
    assert fake.tasks == {}


def test_routed_models_without_a_published_price_stay_unpriced() -> None:
    caps = {entry.provider_model: entry.capabilities for entry in runway_models()}
    for model in ("happyhorse_1_0", "hailuo3", "wan3", "wan3_prime", "kling_4"):
        assert caps[model].price(caps[model].default_size, caps[model].default_seconds) is None
    for model in ("grok_imagine_1_5", "grok_imagine_1_5_lite"):
        assert caps[model].price_per_second == {}
    assert caps["wan3"].audio and not caps["hailuo3"].audio and caps["hailuo3"].last_frame
