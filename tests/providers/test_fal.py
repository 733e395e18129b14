"""The fal provider through fal-client's request handles against a fake of fal's queue API."""

from __future__ import annotations

import base64
import io
import itertools
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import av
import fal_client
import httpx
import pytest

from sorakit.catalog.capabilities import ModelEntry
from sorakit.catalog.catalog import Catalog
from sorakit.catalog.fal import fal_models
from sorakit.engine import Engine
from sorakit.errors import (
    ConfigurationError,
    ContentDownloadError,
    InvalidRequestError,
    InvalidStateError,
    NotFoundError,
    ProviderAuthError,
    ProviderBadRequestError,
    ProviderConnectionError,
    ProviderError,
    ProviderUnavailableError,
    RateLimitedError,
)
from sorakit.ledger import JobStatus, Ledger
from sorakit.providers.base import ReferenceImage, SourceVideo
from sorakit.providers.fal import FAL_MODELS, FalProvider, RemoteRef, translate_error
from sorakit.providers.registry import ProviderPool
from sorakit.settings import Settings
from tests.providers.fal_fake import (
    API,
    MEDIA,
    MODERATION_WORD,
    QUEUE,
    FakeFalQueue,
    Fault,
    QuickFal,
    body_of,
    generate,
    make,
    rendered_mp4,
    sent,
    silent_server,
)

PNG = b"\x89PNG\r\n\x1a\nnot-really-a-png"
REFERENCE = ReferenceImage(PNG, "image/png", 1280, 720)


@pytest.fixture(scope="module")
def mp4(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    return rendered_mp4(tmp_path_factory.mktemp("fal"))


@pytest.fixture
def fake(mp4: bytes) -> FakeFalQueue:
    return FakeFalQueue(mp4)


@pytest.fixture
async def provider(fake: FakeFalQueue) -> AsyncIterator[FalProvider]:
    p = make(fake)
    yield p
    await p.aclose()


@pytest.fixture
def few_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """fal-client retries 429/408/409 ten times with backoff; two keep the tests fast."""
    monkeypatch.setattr(fal_client.client, "MAX_ATTEMPTS", 2)


# -- submit: the per-model input maps ---------------------------------------------------------


async def test_kling_gets_string_duration_and_the_key_header(
    provider: FalProvider, fake: FakeFalQueue
) -> None:
    job = await provider.submit(generate())
    endpoint, body = sent(fake)
    assert endpoint == "fal-ai/kling-video/v3/pro/text-to-video"
    assert body == {
        "prompt": "a calico cat playing a piano",
        "duration": "5",
        "aspect_ratio": "16:9",
        "generate_audio": True,
    }
    assert fake.calls("submit")[-1].headers["authorization"] == f"Key {fake.key}"
    assert job.status == "queued" and job.progress == 0
    assert job.id.startswith("fal-ai/kling-video/v3/pro/text-to-video|")
    assert RemoteRef.parse(job.id).submitted_at == fake.now


async def test_int_string_and_seconds_suffix_durations(
    provider: FalProvider, fake: FakeFalQueue
) -> None:
    await provider.submit(generate("happy-horse", size="720x1280", seconds=7))
    assert sent(fake) == (
        "alibaba/happy-horse/text-to-video",
        {
            "prompt": "a calico cat playing a piano",
            "duration": 7,
            "aspect_ratio": "9:16",
            "resolution": "720p",
        },
    )
    await provider.submit(generate("veo3.1", size="3840x2160", seconds=8))
    endpoint, body = sent(fake)
    assert endpoint == "fal-ai/veo3.1"
    assert body["duration"] == "8s" and body["resolution"] == "4k"
    await provider.submit(generate("minimax/hailuo-2.3/standard", size="1366x768", seconds=6))
    assert sent(fake)[1] == {"prompt": "a calico cat playing a piano", "duration": "6"}


async def test_a_reference_becomes_the_first_frame_as_a_data_uri(
    provider: FalProvider, fake: FakeFalQueue
) -> None:
    reference = ReferenceImage(PNG, "image/png", 1920, 1080)
    await provider.submit(generate(reference=reference))
    endpoint, body = sent(fake)
    assert endpoint == "fal-ai/kling-video/v3/pro/image-to-video"
    assert body["start_image_url"] == "data:image/png;base64," + base64.b64encode(PNG).decode()
    assert "aspect_ratio" not in body  # Kling's image-to-video follows the image
    await provider.submit(generate("veo3.1", size="1280x720", seconds=4, reference=reference))
    endpoint, body = sent(fake)
    assert endpoint == "fal-ai/veo3.1/image-to-video"
    assert str(body["image_url"]).startswith("data:image/png;base64,")
    assert body["aspect_ratio"] == "16:9"


@pytest.mark.parametrize("entry", fal_models(), ids=lambda e: e.name)
async def test_every_catalog_model_is_accepted_by_the_fake_schema(
    entry: ModelEntry, provider: FalProvider, fake: FakeFalQueue
) -> None:
    caps = entry.capabilities
    for size, seconds in itertools.product(caps.sizes, {caps.seconds[0], caps.seconds[-1]}):
        w, h = (int(v) for v in size.split("x"))
        references = [None, ReferenceImage(PNG, "image/png", w, h)][: 1 + caps.image_reference]
        for reference in references:
            await provider.submit(
                generate(entry.provider_model, size=size, seconds=seconds, reference=reference)
            )
    assert len(fake.jobs) >= len(caps.sizes) * 2


async def test_the_fake_refuses_wrong_types_missing_and_extra_fields_like_fal(
    fake: FakeFalQueue,
) -> None:
    async def post(endpoint: str, body: dict[str, Any]) -> httpx.Response:
        async with httpx.AsyncClient(transport=fake.transport()) as client:
            headers = {"Authorization": f"Key {fake.key}"}
            return await client.post(QUEUE + endpoint, json=body, headers=headers)

    def errors(response: httpx.Response) -> set[tuple[str, str]]:
        assert response.status_code == 422
        return {(e["loc"][1], e["type"]) for e in response.json()["detail"]}

    kling = {"prompt": "p", "duration": 5, "colour": "red"}
    wrong = await post("fal-ai/kling-video/v3/pro/text-to-video", kling)
    assert errors(wrong) == {("duration", "str_type"), ("colour", "extra_forbidden")}
    horse = {"prompt": "p", "duration": "5"}
    missing = await post("alibaba/happy-horse/image-to-video", horse)
    assert errors(missing) == {("image_url", "missing"), ("duration", "int_type")}
    error = translate_error(wrong)
    assert isinstance(error, ProviderBadRequestError)
    assert "duration: Input should be a valid str" in str(error)


@pytest.mark.parametrize(
    ("overrides", "param", "match"),
    [
        ({"seconds": 20}, "seconds", "cannot make 20 seconds"),
        ({"size": "1280x720"}, "size", "cannot make 1280x720"),
        ({"size": "123x456"}, "size", "cannot make 123x456"),
        ({"kind": "remix", "source_id": "x"}, "model", "cannot remix a video"),
        ({"kind": "extend", "source_id": "x"}, "model", "cannot extend a video"),
        ({"characters": ("ch_1",)}, "characters", "no characters"),
        ({"model": "no-such-model"}, "model", "no input map"),
        (
            {"model": "veo3.1/fast", "size": "1280x720", "seconds": 4, "reference": REFERENCE},
            "input_reference",
            "takes no reference image",
        ),
    ],
)
async def test_impossible_requests_are_refused_before_sending(
    provider: FalProvider, fake: FakeFalQueue, overrides: dict[str, Any], param: str, match: str
) -> None:
    with pytest.raises(InvalidRequestError, match=match) as caught:
        await provider.submit(replace(generate(), **overrides))
    assert caught.value.param == param
    assert not fake.seen


async def test_veo_extends_a_fal_clip_by_its_output_url(
    provider: FalProvider, fake: FakeFalQueue
) -> None:
    source = await provider.submit(generate("veo3.1", size="1280x720", seconds=8))
    fake.advance(3600)
    extend = generate(
        "veo3.1", kind="extend", size="1280x720", seconds=7, source_id=source.id, prompt="on"
    )
    job = await provider.submit(extend)
    endpoint, body = sent(fake)
    assert endpoint == "fal-ai/veo3.1/fast/extend-video"
    source_rid = RemoteRef.parse(source.id).request_id
    assert set(body) == {"prompt", "video_url", "duration"} and body["duration"] == "7s"
    assert str(body["video_url"]).startswith(f"{MEDIA}{source_rid}/output.mp4?expires=")
    assert job.id.startswith("fal-ai/veo3.1/fast/extend-video|")
    fake.advance(3600)
    assert (await provider.retrieve(job.id)).status == "completed"
    assert fake.calls("status")[-1].url.path.startswith("/fal-ai/veo3.1/requests/")


async def test_veo_extends_an_uploaded_clip_as_a_data_uri(
    provider: FalProvider, fake: FakeFalQueue
) -> None:
    clip = SourceVideo(b"mp4-bytes")
    request = generate("veo3.1/fast", kind="extend", size="720x1280", seconds=7)
    await provider.submit(replace(request, source_id="video_123", source_video=clip))
    assert (
        sent(fake)[1]["video_url"]
        == "data:video/mp4;base64," + base64.b64encode(b"mp4-bytes").decode()
    )


async def test_extensions_outside_the_offer_are_refused(
    provider: FalProvider, fake: FakeFalQueue
) -> None:
    base = generate("veo3.1", kind="extend", size="1280x720", seconds=7)
    with pytest.raises(InvalidRequestError) as caught:
        await provider.submit(replace(base, seconds=8, source_id="video_1"))
    assert caught.value.allowed == ("7",)
    with pytest.raises(InvalidRequestError, match="extend by 1920x1080"):
        await provider.submit(replace(base, size="1920x1080", source_id="video_1"))
    with pytest.raises(InvalidRequestError, match="needs a video made on fal or an uploaded"):
        await provider.submit(replace(base, source_id="video_1"))
    with pytest.raises(InvalidRequestError, match="cannot extend a video"):
        await provider.submit(generate(kind="extend", source_id="video_1"))
    assert not fake.seen
    failed = await provider.submit(
        generate("veo3.1", size="1280x720", seconds=8, prompt=MODERATION_WORD)
    )
    fake.advance(3600)
    with pytest.raises(InvalidStateError, match="no video to extend"):
        await provider.submit(replace(base, source_id=failed.id))


# -- the lifecycle ----------------------------------------------------------------------------


async def test_retrieve_follows_queue_progress_and_completion(
    provider: FalProvider, fake: FakeFalQueue
) -> None:
    job = await provider.submit(generate())
    queued = await provider.retrieve(job.id)
    assert (queued.status, queued.progress) == ("queued", 0)
    fake.advance(5 + 30)
    running = await provider.retrieve(job.id)
    assert running.status == "in_progress"
    assert running.progress == 50  # "step 25/50" in the logs
    rid = RemoteRef.parse(job.id).request_id
    assert (
        str(fake.calls("status")[-1].url)
        == f"{QUEUE}fal-ai/kling-video/requests/{rid}/status?logs=true"
    )
    fake.logs = False
    fake.advance(10)
    estimated = await provider.retrieve(job.id)
    expected = provider.expected_render_seconds(generate())
    assert expected == 90 + 10 * 5
    assert estimated.progress == int(45 / expected * 100)
    fake.advance(3600)
    done = await provider.retrieve(job.id)
    assert (done.status, done.progress) == ("completed", 100)
    assert done.expected_seconds == expected and done.created_at == job.created_at
    data = await body_of(provider, job.id)
    assert data == fake.video
    with av.open(io.BytesIO(data)) as container:
        assert container.streams.video[0].width == 64
    media = fake.calls("media")[-1]
    assert "authorization" not in media.headers


async def test_progress_is_capped_below_completion(
    provider: FalProvider, fake: FakeFalQueue
) -> None:
    fake.render_seconds = 10_000
    fake.logs = False
    job = await provider.submit(generate())
    fake.advance(5_000)
    assert (await provider.retrieve(job.id)).progress == 99


async def test_a_restart_retrieves_and_downloads_by_the_remote_id_alone(
    fake: FakeFalQueue,
) -> None:
    first = make(fake)
    job = await first.submit(generate("wan/v2.7", size="1280x720", seconds=5))
    fake.advance(20)
    assert (await first.retrieve(job.id)).status == "in_progress"
    await first.aclose()
    fake.advance(600)
    second = make(fake)  # a new process: nothing but the remote id
    assert (await second.retrieve(job.id)).status == "completed"
    assert await body_of(second, job.id) == fake.video
    assert fake.calls("result")[-1].url.path.startswith("/fal-ai/wan/requests/")
    await second.aclose()


@pytest.mark.parametrize("where", ["status", "result"])
async def test_a_content_filter_failure_is_moderation_blocked(
    provider: FalProvider, fake: FakeFalQueue, where: str
) -> None:
    fake.moderation = where
    job = await provider.submit(generate(prompt=f"something {MODERATION_WORD}"))
    fake.advance(3600)
    failed = await provider.retrieve(job.id)
    assert failed.status == "failed"
    assert failed.error_code == "moderation_blocked"
    assert "content_policy_violation" in (failed.error_message or "")
    with pytest.raises(InvalidStateError, match="has no video"):
        await body_of(provider, job.id)


async def test_a_cancelled_job_fails_and_delete_tolerates_a_finished_one(
    provider: FalProvider, fake: FakeFalQueue
) -> None:
    job = await provider.submit(generate())
    await provider.cancel(job.id)
    assert fake.calls("cancel")[-1].method == "PUT"
    failed = await provider.retrieve(job.id)
    assert (failed.status, failed.error_code) == ("failed", "failed")
    assert "cancelled" in (failed.error_message or "")
    await provider.delete(job.id)  # already finished: nothing to cancel, no error
    with pytest.raises(ProviderBadRequestError):
        await provider.cancel(job.id)


async def test_download_errors_expired_urls_and_short_bodies(
    provider: FalProvider, fake: FakeFalQueue
) -> None:
    job = await provider.submit(generate())
    fake.advance(3600)
    promised = {"content-length": str(len(fake.video))}
    fake.fail("media", Fault(200, None, promised))  # the size is promised, the body is empty
    with pytest.raises(ContentDownloadError):
        await body_of(provider, job.id)
    fake.advance(fake.url_ttl)
    with pytest.raises(NotFoundError, match="expire"):
        await body_of(provider, job.id)


# -- errors -----------------------------------------------------------------------------------


async def test_429s_keep_retry_after_and_the_sdk_absorbs_a_single_one_on_status(
    provider: FalProvider, fake: FakeFalQueue, few_retries: None
) -> None:
    fake.fail("submit", Fault(429, {"detail": "Too many requests"}, {"retry-after": "7"}))
    with pytest.raises(RateLimitedError) as caught:
        await provider.submit(generate())
    assert caught.value.retry_after == 7.0
    assert len(fake.calls("submit")) == 1  # a create is never re-sent: fal has no idempotency key
    job = await provider.submit(generate())
    slow_down = Fault(429, {"detail": "slow down"}, {"retry-after": "2"})
    fake.fail("status", slow_down)
    assert (await provider.retrieve(job.id)).status == "queued"
    fake.fail("status", slow_down, times=2)
    with pytest.raises(RateLimitedError) as caught:
        await provider.retrieve(job.id)
    assert caught.value.retry_after == 2.0


async def test_a_wrong_key_is_an_auth_error_that_hides_the_key(fake: FakeFalQueue) -> None:
    provider = make(fake, key="bad-id:bad-secret")
    with pytest.raises(ProviderAuthError) as caught:
        await provider.submit(generate())
    await provider.aclose()
    assert "FAL_KEY" in str(caught.value) and "bad-secret" not in str(caught.value)
    assert "bad-secret" not in repr(provider)


async def test_server_errors_and_unknown_requests(
    provider: FalProvider, fake: FakeFalQueue
) -> None:
    fake.fail("submit", Fault(500, {"detail": "internal"}))
    with pytest.raises(ProviderUnavailableError):
        await provider.submit(generate())
    with pytest.raises(NotFoundError):
        await provider.retrieve("fal-ai/kling-video/v3/pro/text-to-video|nope|1000000|140")
    with pytest.raises(InvalidRequestError):
        await provider.retrieve("not-a-fal-id")


@pytest.mark.parametrize(
    "body", [{"status": "PAUSED"}, {"status": "IN_QUEUE"}, {"status": "IN_PROGRESS"}, ["x"]]
)
async def test_a_status_outside_the_contract_is_a_provider_error(
    provider: FalProvider, fake: FakeFalQueue, body: object
) -> None:
    job = await provider.submit(generate())
    fake.fail("status", Fault(200, body))
    with pytest.raises(ProviderError, match="outside its contract"):
        await provider.retrieve(job.id)


async def test_timeouts_are_connection_errors(
    provider: FalProvider, fake: FakeFalQueue, few_retries: None
) -> None:
    fake.fail("submit", Fault(raises=httpx.ReadTimeout("timed out")))
    with pytest.raises(ProviderConnectionError):
        await provider.submit(generate())
    job = await provider.submit(generate())
    fake.fail("status", Fault(raises=httpx.ReadTimeout("timed out")), times=2)
    with pytest.raises(ProviderConnectionError):
        await provider.retrieve(job.id)
    assert (await provider.retrieve(job.id)).status == "queued"


async def test_a_silent_server_on_loopback_times_out() -> None:
    async with silent_server() as url:
        provider = FalProvider(key="id:secret", queue_url=url, timeout=0.3)
        try:
            with pytest.raises(ProviderConnectionError, match="ReadTimeout"):
                await provider.submit(generate())
        finally:
            await provider.aclose()


# -- the engine drives it end to end ---------------------------------------------------------


async def test_the_engine_generates_tracks_and_archives_a_fal_job(
    settings: Settings, fake: FakeFalQueue
) -> None:
    fake.speed, fake.queue_seconds, fake.render_seconds = 40.0, 2.0, 8.0  # 0.25 s of real time
    provider = QuickFal(
        key=fake.key, queue_url=QUEUE, api_url=API, transport=fake.transport()
    )  # polls fast
    ledger = await Ledger.open(settings.ledger_url)
    pool = ProviderPool(settings, instances={"fal": provider})
    async with Engine(settings, ledger, catalog=Catalog(fal_models()), providers=pool) as engine:
        job = await engine.create("a cat", model="fal/happy-horse-1.0", seconds=5, size="1280x720")
        assert (job.remote_id or "").startswith("alibaba/happy-horse/text-to-video|")
        done = await engine.wait(job.id)
    assert done.status is JobStatus.COMPLETED
    assert Path(done.video_path or "").read_bytes() == fake.video
    assert done.cost == pytest.approx(0.70)  # the catalog's estimate: 5 s at $0.14/s
    assert len(fake.calls("status")) < 20


# -- settings and the catalog -----------------------------------------------------------------


async def test_from_settings_needs_the_key_and_honours_the_queue_url(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("FAL_KEY", "SORAKIT_FAL_KEY", "SORAKIT_FAL_QUEUE_URL"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ConfigurationError, match="FAL_KEY"):
        FalProvider.from_settings(Settings(_env_file=None))
    custom = FalProvider.from_settings(Settings(fal_key="k:s", fal_queue_url="http://127.0.0.1:9"))
    default = FalProvider.from_settings(Settings(fal_key="k:s", _env_file=None))
    await custom.aclose()
    await default.aclose()
    assert custom.queue_url == "http://127.0.0.1:9/"
    assert default.queue_url == fal_client.client.QUEUE_URL_FORMAT == "https://queue.fal.run/"
    with pytest.raises(ConfigurationError):
        FalProvider(key="k", queue_url="ftp://nowhere/")


def test_the_catalog_matches_the_input_maps() -> None:
    entries = fal_models()
    assert len(entries) == len(FAL_MODELS)
    for entry in entries:
        caps = entry.capabilities
        assert entry.provider == "fal" and entry.name.startswith("fal/")
        assert entry.provider_model in FAL_MODELS
        assert caps.default_size in caps.sizes and caps.default_seconds in caps.seconds
        assert all(size in caps.sizes and rate > 0 for size, rate in caps.price_per_second.items())
    kling = next(e for e in entries if e.name == "fal/kling-3.0-pro").capabilities
    assert kling.price("1920x1080", 10) == pytest.approx(1.68)


def test_listing_the_models_does_not_import_the_sdk() -> None:
    code = "import sys; from sorakit.catalog.fal import fal_models; fal_models(); " + (
        "assert 'fal_client' not in sys.modules and 'httpx' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


async def test_the_engine_extends_a_veo_job_by_the_seconds_fal_allows(
    settings: Settings, fake: FakeFalQueue
) -> None:
    fake.speed, fake.queue_seconds, fake.render_seconds = 40.0, 2.0, 8.0
    provider = QuickFal(key=fake.key, queue_url=QUEUE, api_url=API, transport=fake.transport())
    ledger = await Ledger.open(settings.ledger_url)
    pool = ProviderPool(settings, instances={"fal": provider})
    async with Engine(settings, ledger, catalog=Catalog(fal_models()), providers=pool) as engine:
        base = await engine.wait(
            (await engine.create("a cat", model="fal/veo-3.1", seconds=8, size="1280x720")).id
        )
        with pytest.raises(InvalidRequestError, match="allows '7'"):
            await engine.extend(base.id, "and then", 8)
        longer = await engine.wait((await engine.extend(base.id, "and then", 7)).id)
        snapped = await engine.extend(base.id, "and more", 4, snap=True, submit=False)
    assert longer.status is JobStatus.COMPLETED and longer.kind == "extend"
    assert snapped.seconds == 7 and snapped.options["changes"][0].startswith("seconds 4 -> 7")
    assert any("extend-video" in request.url.path for request in fake.calls("submit"))
