"""The `openai` provider's images (Images API, answered at once, spooled) against a faithful fake,
checked with the official SDK; and the engine making, costing and archiving them."""

from __future__ import annotations

import base64
import io
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import openai
import pytest
from PIL import Image

from sorakit.catalog import build_catalog
from sorakit.catalog.catalog import Catalog
from sorakit.catalog.openai_images import openai_image_models
from sorakit.engine import Engine
from sorakit.errors import (
    InvalidRequestError,
    NotFoundError,
    ProviderConnectionError,
    RateLimitedError,
)
from sorakit.ledger import JobStatus, Ledger
from sorakit.providers.base import ReferenceImage, SubmitRequest
from sorakit.providers.openai import OpenAIProvider
from sorakit.providers.openai._images import spool_id
from sorakit.providers.registry import ProviderPool
from sorakit.settings import Settings
from tests.providers.openai_images_fake import MODERATION_WORD, FakeImagesAPI

BASE_URL = "http://images.test/v1"


def picture(size: tuple[int, int], mode: str = "RGB") -> bytes:
    out = io.BytesIO()
    Image.new(mode, size, (10, 200, 10, 0) if mode == "RGBA" else (10, 200, 10)).save(
        out, format="PNG"
    )
    return out.getvalue()


def decode(data: bytes) -> tuple[str | None, tuple[int, int]]:
    with Image.open(io.BytesIO(data)) as image:
        return image.format, image.size


def request(model: str = "gpt-image-1", **overrides: object) -> SubmitRequest:
    fields: dict[str, object] = {
        "kind": "image",
        "model": model,
        "prompt": "a lighthouse at dusk",
        "seconds": 0,
        "size": "1536x1024",
        "idempotency_key": "img_0123#1",
    }
    fields.update(overrides)
    return SubmitRequest(**fields)  # type: ignore[arg-type]


@pytest.fixture
def fake() -> FakeImagesAPI:
    return FakeImagesAPI()


def make(fake: FakeImagesAPI, spool: Path) -> OpenAIProvider:
    return OpenAIProvider(
        base_url=BASE_URL, api_key=fake.api_key, transport=fake.transport(), spool_dir=spool
    )


@pytest.fixture
async def provider(fake: FakeImagesAPI, tmp_path: Path) -> AsyncIterator[OpenAIProvider]:
    p = make(fake, tmp_path / "spool")
    yield p
    await p.aclose()


async def body_of(provider: OpenAIProvider, remote_id: str) -> tuple[bytes, str]:
    async with provider.download(remote_id, "image") as stream:
        return b"".join([c async for c in stream.chunks]), stream.media_type


# -- the fake speaks what the official SDK speaks ---------------------------------------------


async def test_the_official_sdk_and_the_provider_send_the_same_shapes(
    fake: FakeImagesAPI, provider: OpenAIProvider
) -> None:
    async with httpx.AsyncClient(transport=fake.transport()) as http:
        sdk = openai.AsyncOpenAI(api_key=fake.api_key, base_url=BASE_URL, http_client=http)
        made = await sdk.images.generate(
            model="gpt-image-1", prompt="a kite", size="1024x1024", quality="medium"
        )
        assert made.data and decode(base64.b64decode(made.data[0].b64_json or ""))[1] == (
            1024,
            1024,
        )
        edited = await sdk.images.edit(
            model="gpt-image-1",
            prompt="add a cat",
            image=[
                ("a.png", picture((64, 48)), "image/png"),
                ("b.png", picture((32, 32)), "image/png"),
            ],
            mask=("m.png", picture((64, 48), "RGBA"), "image/png"),
            size="1024x1536",
        )
        assert edited.size == "1024x1536"
        with pytest.raises(openai.BadRequestError) as refused:
            await sdk.images.generate(model="gpt-image-1", prompt=f"a {MODERATION_WORD} thing")
        assert refused.value.code == "moderation_blocked"
    sdk_edit = fake.calls[1]
    inputs = (ReferenceImage(picture((64, 48)), "image/png", 64, 48),) * 2
    mask = ReferenceImage(picture((64, 48), "RGBA"), "image/png", 64, 48)
    await provider.submit(request(size="1024x1536", reference_images=inputs, mask=mask))
    ours = fake.calls[-1]
    assert ours.path == sdk_edit.path == "/v1/images/edits"
    assert (
        [p.name for p in ours.files]
        == [p.name for p in sdk_edit.files]
        == [
            "image[]",
            "image[]",
            "mask",
        ]
    )
    assert set(sdk_edit.fields) <= set(ours.fields)


# -- submit: generations and edits, spooled ---------------------------------------------------


async def test_a_generation_is_paid_once_spooled_and_served(
    fake: FakeImagesAPI, provider: OpenAIProvider, tmp_path: Path
) -> None:
    job = await provider.submit(request(output_format="webp"))
    call = fake.calls[-1]
    assert call.path == "/v1/images/generations" and call.encoding == "json"
    assert call.fields == {
        "model": "gpt-image-1",
        "prompt": "a lighthouse at dusk",
        "n": 1,
        "size": "1536x1024",
        "quality": "medium",
        "output_format": "webp",
    }
    assert call.headers["idempotency-key"] == "img_0123#1"
    assert job.status == "completed" and job.id == spool_id("img_0123#1")
    assert [p.name for p in (tmp_path / "spool").iterdir()] == [f"{job.id[9:]}.webp"]
    assert (await provider.retrieve(job.id)).status == "completed"
    data, media_type = await body_of(provider, job.id)
    assert decode(data) == ("WEBP", (1536, 1024)) and media_type == "image/webp"
    with pytest.raises(InvalidRequestError):
        async with provider.download(job.id, "video"):
            pass
    await provider.delete(job.id)
    with pytest.raises(NotFoundError):
        await provider.retrieve(job.id)
    assert fake.paid == 1


async def test_dall_e_3_asks_for_b64_json_and_no_output_format(
    fake: FakeImagesAPI, provider: OpenAIProvider
) -> None:
    job = await provider.submit(request("dall-e-3", size="1792x1024"))
    assert fake.calls[-1].fields == {
        "model": "dall-e-3",
        "prompt": "a lighthouse at dusk",
        "n": 1,
        "size": "1792x1024",
        "response_format": "b64_json",
    }
    assert decode((await body_of(provider, job.id))[0]) == ("PNG", (1792, 1024))


async def test_an_answer_with_a_url_is_fetched_without_our_key(
    fake: FakeImagesAPI, provider: OpenAIProvider
) -> None:
    fake.url_mode = True
    job = await provider.submit(request(output_format="jpeg"))
    assert decode((await body_of(provider, job.id))[0]) == ("JPEG", (1536, 1024))


# -- failures -----------------------------------------------------------------------------------


async def test_a_moderation_refusal_fails_the_job_with_the_reason_and_is_not_asked_twice(
    fake: FakeImagesAPI, provider: OpenAIProvider
) -> None:
    refused = await provider.submit(request(prompt=f"a {MODERATION_WORD} scene"))
    assert refused.status == "failed" and refused.error_code == "moderation_blocked"
    assert "safety system" in (refused.error_message or "")
    again = await provider.retrieve(refused.id)
    assert (again.status, again.error_code, again.error_message) == (
        "failed",
        "moderation_blocked",
        refused.error_message,
    )
    await provider.submit(request(prompt=f"a {MODERATION_WORD} scene"))
    assert len(fake.calls) == 1 and fake.paid == 0


async def test_a_429_is_rate_limited_with_retry_after_and_spools_nothing(
    fake: FakeImagesAPI, provider: OpenAIProvider, tmp_path: Path
) -> None:
    fake.fail_next(
        429, "Rate limit reached", code="rate_limit_exceeded", headers={"retry-after": "12"}
    )
    with pytest.raises(RateLimitedError) as limited:
        await provider.submit(request())
    assert limited.value.retry_after == 12
    assert not (tmp_path / "spool").exists() or not list((tmp_path / "spool").iterdir())
    assert (await provider.submit(request())).status == "completed"


async def test_a_crash_after_payment_never_pays_twice(fake: FakeImagesAPI, tmp_path: Path) -> None:
    first = make(fake, tmp_path / "spool")
    paid = await first.submit(request())
    await first.aclose()  # the process dies before the ledger hears of the job
    second = make(fake, tmp_path / "spool")
    try:
        found = await second.find(request(), since=0.0)
        resent = await second.submit(request())
        assert found is not None and found.id == resent.id == paid.id
        assert found.status == resent.status == "completed"
        assert await second.find(request(idempotency_key="another"), since=0.0) is None
    finally:
        await second.aclose()
    assert fake.paid == 1 and len(fake.calls) == 1


async def test_a_lost_answer_is_a_connection_error_and_nothing_is_spooled(
    fake: FakeImagesAPI, provider: OpenAIProvider
) -> None:
    fake.lose_next_response()
    with pytest.raises(ProviderConnectionError):
        await provider.submit(request())
    assert await provider.find(request(), since=0.0) is None


# -- the catalog and the engine ---------------------------------------------------------------


def test_configured_openai_images_take_the_openai_names_from_the_simulator() -> None:
    live = build_catalog(Settings(openai_base_url=BASE_URL, _env_file=None))
    offline = build_catalog(Settings(_env_file=None))
    for name in ("gpt-image-1", "gpt-image-1-mini", "dall-e-3"):
        assert live.resolve(name).provider == "openai"
        assert offline.resolve(name).provider == "simulator"
    caps = live.resolve("gpt-image-1").capabilities
    assert caps.price("1024x1024", 0) == 0.042 and caps.price("1536x1024", 0) == 0.063
    assert live.resolve("gpt-image-1-mini").capabilities.price("1024x1536", 0) == 0.015
    assert not live.resolve("dall-e-3").capabilities.image_edit


@pytest.mark.parametrize(
    ("model", "size", "edit", "cost"),
    [("gpt-image-1", "1024x1024", False, 0.042), ("gpt-image-1-mini", "1536x1024", True, 0.015)],
)
async def test_the_engine_makes_costs_and_archives_openai_images(
    settings: Settings, fake: FakeImagesAPI, model: str, size: str, edit: bool, cost: float
) -> None:
    configured = settings.model_copy(update={"openai_base_url": BASE_URL})
    from_settings = OpenAIProvider.from_settings(configured)
    await from_settings.aclose()
    spool = configured.assets_dir / "spool" / "openai-images"
    assert from_settings._images.spool.root == spool
    provider = OpenAIProvider(
        base_url=BASE_URL,
        api_key=fake.api_key,
        transport=fake.transport(),
        spool_dir=spool,
    )
    ledger = await Ledger.open(settings.ledger_url)
    pool = ProviderPool(settings, instances={"openai": provider})
    catalog = Catalog(openai_image_models(configured))
    images = [picture((320, 240))] if edit else []
    async with Engine(settings, ledger, catalog=catalog, providers=pool) as engine:
        jobs = await engine.create_image("a red kite", model=model, size=size, n=2, images=images)
        done = await engine.wait_images(jobs, timeout=60)
    assert [job.status for job in done] == [JobStatus.COMPLETED] * 2
    for job in done:
        assert job.cost == pytest.approx(cost)
        assert decode(Path(job.assets["image"].path).read_bytes()) == (
            "PNG",
            tuple(int(v) for v in size.split("x")),
        )
    keys = [call.headers["idempotency-key"] for call in fake.calls]
    assert fake.paid == 2 and len(set(keys)) == 2
    assert {c.path for c in fake.calls} == {f"/v1/images/{'edits' if edit else 'generations'}"}
