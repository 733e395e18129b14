"""The `runway` provider, through the official runwayml SDK, against a faithful fake of its API."""

from __future__ import annotations

import base64
import dataclasses
import io
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import av
import httpx
import pytest
import runwayml
from PIL import Image

from sorakit.catalog.catalog import Catalog
from sorakit.catalog.runway import runway_models
from sorakit.engine import Engine
from sorakit.errors import (
    ConfigurationError,
    InvalidRequestError,
    InvalidStateError,
    NotFoundError,
    ProviderAuthError,
    ProviderBadRequestError,
    ProviderConnectionError,
    ProviderUnavailableError,
    RateLimitedError,
    ReferenceImageError,
)
from sorakit.ledger import JobStatus, Ledger
from sorakit.providers.base import ReferenceImage, RemoteJob, SourceVideo, SubmitRequest
from sorakit.providers.registry import ProviderPool
from sorakit.providers.runway import RUNWAY_VERSION, RunwayProvider
from sorakit.providers.runway._errors import translate
from sorakit.settings import Settings
from tests.providers.runway_fake import API_HOST, BASE_URL, CDN_HOST, FakeRunwayAPI


@pytest.fixture
def fake(tmp_path: Path) -> FakeRunwayAPI:
    return FakeRunwayAPI(workdir=tmp_path / "fake")


def make_provider(fake: FakeRunwayAPI) -> RunwayProvider:
    return RunwayProvider(api_secret=fake.api_secret, base_url=BASE_URL, transport=fake.transport())


@pytest.fixture
async def provider(fake: FakeRunwayAPI) -> AsyncIterator[RunwayProvider]:
    p = make_provider(fake)
    yield p
    await p.aclose()


def generate(prompt: str = "a calico cat playing a piano", **overrides: object) -> SubmitRequest:
    fields: dict[str, object] = {
        "kind": "generate",
        "model": "gen4.5",
        "prompt": prompt,
        "seconds": 2,
        "size": "1280x720",
        "idempotency_key": "key-1",
    }
    fields.update(overrides)
    return SubmitRequest(**fields)  # type: ignore[arg-type]


def png(width: int, height: int) -> ReferenceImage:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (200, 40, 40)).save(buffer, format="PNG")
    return ReferenceImage(buffer.getvalue(), "image/png", width, height)


async def read_all(provider: RunwayProvider, remote_id: str) -> tuple[bytes, int | None]:
    async with provider.download(remote_id) as download:
        assert download.media_type == "video/mp4"
        data = b"".join([chunk async for chunk in download.chunks])
        return data, download.expected_size


# -- submit: endpoints and bodies ------------------------------------------------------------


async def test_text_to_video_sends_camel_case_with_integer_duration_and_headers(
    provider: RunwayProvider, fake: FakeRunwayAPI
) -> None:
    job = await provider.submit(generate(model="veo3.1", seconds=8, size="1080x1920"))
    (call,) = fake.calls("POST", "/v1/text_to_video")
    assert call.body == {
        "model": "veo3.1",
        "promptText": "a calico cat playing a piano",
        "ratio": "1080:1920",
        "duration": 8,
        "audio": True,
    }
    assert call.headers["authorization"] == f"Bearer {fake.api_secret}"
    assert call.headers["x-runway-version"] == RUNWAY_VERSION == "2024-11-06"
    task_id = next(iter(fake.tasks))
    assert job.id == f"veo3.1|1080x1920|8|{task_id}"
    assert (job.status, job.progress, job.seconds, job.size) == ("queued", 0, "8", "1080x1920")
    assert job.expected_seconds == 60 + 12 * 8


async def test_reference_image_becomes_the_first_frame_as_a_data_uri(
    provider: RunwayProvider, fake: FakeRunwayAPI
) -> None:
    reference = png(960, 960)  # gen4.5 takes 960:960 only from an image
    job = await provider.submit(generate(size="960x960", seconds=2, reference=reference))
    (call,) = fake.calls("POST", "/v1/image_to_video")
    uri = base64.b64encode(reference.data).decode()
    assert call.body["promptImage"] == [
        {"uri": f"data:image/png;base64,{uri}", "position": "first"}
    ]
    assert call.body["ratio"] == "960:960" and call.body["duration"] == 2
    fake.advance(60)
    data, _ = await read_all(provider, job.id)
    with av.open(io.BytesIO(data), "r") as container:
        frame = next(container.decode(video=0)).to_image()  # type: ignore[no-untyped-call]
    assert frame.size == (960, 960)
    red, green, _blue = frame.getpixel((5, 5))
    assert red > 150 and green < 100  # the reference is frame 0


@pytest.mark.parametrize(
    ("overrides", "param"),
    [
        ({"size": "960x960"}, "size"),  # gen4.5 text_to_video: only 1280:720 and 720:1280
        ({"seconds": 12}, "seconds"),
        ({"model": "veo3.1", "seconds": 5}, "seconds"),
        ({"model": "gen4_turbo"}, "input_reference"),  # image_to_video only
        ({"model": "gen5"}, "model"),
        ({"kind": "remix", "source_id": "gen4.5|1280x720|2|abc"}, "model"),
        ({"kind": "extend", "source_id": "gen4.5|1280x720|2|abc"}, "model"),
    ],
)
async def test_what_a_model_cannot_do_is_refused_before_sending(
    provider: RunwayProvider, fake: FakeRunwayAPI, overrides: dict[str, object], param: str
) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        await provider.submit(generate(**overrides))  # type: ignore[arg-type]
    assert caught.value.param == param
    assert fake.requests == []


async def test_remix_refusal_says_the_model_lacks_it(provider: RunwayProvider) -> None:
    with pytest.raises(InvalidRequestError, match="gen4.5 cannot remix"):
        await provider.submit(generate(kind="remix", source_id="x"))
    with pytest.raises(InvalidRequestError, match="cannot extend.*gemini_omni_flash_1.1"):
        await provider.submit(generate(kind="extend", source_id="x"))


async def test_the_fake_refuses_a_string_duration_like_the_real_api(fake: FakeRunwayAPI) -> None:
    async with httpx.AsyncClient(transport=fake.transport()) as http:
        client = runwayml.AsyncRunwayML(
            api_key=fake.api_secret, base_url=BASE_URL, http_client=http, max_retries=0
        )
        with pytest.raises(runwayml.BadRequestError) as caught:
            await client.text_to_video.create(  # type: ignore[call-overload]
                model="gen4.5",
                prompt_text="a cat",
                ratio="1280:720",
                duration="5",
            )
        error = translate(caught.value)
        assert isinstance(error, ProviderBadRequestError) and error.status_code == 400
        assert "duration: Expected number, received string" in error.message
        with pytest.raises(runwayml.BadRequestError, match="Unrecognized key"):
            await client.text_to_video.create(
                model="gen4.5",
                prompt_text="a cat",
                ratio="1280:720",
                duration=5,
                extra_body={"seconds": "5"},
            )
    assert fake.tasks == {}


def test_catalog_prices_are_credits_at_a_cent() -> None:
    caps = {entry.provider_model: entry.capabilities for entry in runway_models()}
    assert caps["gen4.5"].price("1280x720", 10) == pytest.approx(1.20)
    assert caps["gen4_turbo"].price("960x960", 5) == pytest.approx(0.25)
    assert caps["veo3.1"].price("1920x1080", 8) == pytest.approx(3.20)
    assert caps["veo3.1_fast"].price("1280x720", 4) == pytest.approx(0.60)
    assert caps["kling3.0_pro"].price("1920x1080", 5) is None  # no published Runway price
    assert caps["gemini_omni_flash_1.1"].extension and caps["gemini_omni_flash_1.1"].edit
    assert not caps["gen4.5"].audio and caps["veo3.1"].last_frame and not caps["gen4.5"].last_frame


# -- tracking -------------------------------------------------------------------------------


async def test_state_sequence_maps_onto_sora_states_at_any_cadence(
    provider: RunwayProvider, fake: FakeRunwayAPI
) -> None:
    fake.throttled_seconds = 1.0
    job = await provider.submit(generate())
    seen: list[tuple[str, int | None]] = []
    for step in (0.0, 0.5, 1.0, 0.5, 1.5, 4.0, 0.1, 0.1, 6.0):  # sub-second and SDK-like 6 s
        fake.advance(step)
        state = await provider.retrieve(job.id)
        seen.append((state.status, state.progress))
    assert seen[:4] == [("queued", 0)] * 4  # THROTTLED, then PENDING
    running = [p or 0 for s, p in seen if s == "in_progress"]
    assert running == sorted(running) and running[0] == 5 and all(p < 100 for p in running)
    assert seen[-1] == ("completed", 100)
    done = await provider.retrieve(job.id)
    assert done.cost == pytest.approx(0.24)  # 24 credits at $0.01
    assert (done.seconds, done.size, done.created_at) == ("2", "1280x720", 1_763_892_000.0)
    assert done.expected_seconds == 45 + 10 * 2


async def test_content_filter_is_moderation_blocked_with_runways_reason(
    provider: RunwayProvider, fake: FakeRunwayAPI
) -> None:
    job = await provider.submit(generate("something forbidden"))
    fake.advance(60)
    state = await provider.retrieve(job.id)
    assert (state.status, state.error_code, state.cost) == ("failed", "moderation_blocked", 0.0)
    assert state.error_message == (
        "The prompt was flagged by content moderation. (SAFETY.INPUT.TEXT)"
    )


async def test_other_failures_keep_runways_code(
    provider: RunwayProvider, fake: FakeRunwayAPI
) -> None:
    fake.fail_next_task("INTERNAL.BAD_OUTPUT.CODE01", "The model produced no usable output.")
    job = await provider.submit(generate())
    fake.advance(60)
    state = await provider.retrieve(job.id)
    assert state.status == "failed" and state.error_code == "INTERNAL.BAD_OUTPUT.CODE01"


async def test_a_new_instance_resumes_a_job_by_its_remote_id(fake: FakeRunwayAPI) -> None:
    first = make_provider(fake)
    job = await first.submit(generate(model="kling3.0_standard", seconds=3, size="720x1280"))
    fake.advance(5)
    assert (await first.retrieve(job.id)).status == "in_progress"
    await first.aclose()  # the process restarts
    second = make_provider(fake)
    try:
        fake.advance(60)
        state = await second.retrieve(job.id)
        assert (state.status, state.seconds, state.size) == ("completed", "3", "720x1280")
        data, size = await read_all(second, job.id)
        assert len(data) == size and data[4:8] == b"ftyp"
    finally:
        await second.aclose()


# -- errors ---------------------------------------------------------------------------------


async def test_429_carries_retry_after_and_the_sdk_does_not_retry_a_create(
    provider: RunwayProvider, fake: FakeRunwayAPI
) -> None:
    fake.fail_next(429, "You have exceeded your rate limit.", headers={"Retry-After": "7"})
    with pytest.raises(RateLimitedError) as caught:
        await provider.submit(generate())
    assert caught.value.retry_after == 7.0 and caught.value.status_code == 429
    assert "rate limit" in caught.value.message
    assert len(fake.calls("POST")) == 1 and fake.tasks == {}


async def test_auth_failure_names_the_variable_and_never_logs_the_secret(
    fake: FakeRunwayAPI, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    wrong = RunwayProvider(api_secret="key_wrong", base_url=BASE_URL, transport=fake.transport())
    try:
        with pytest.raises(ProviderAuthError, match="RUNWAYML_API_SECRET") as caught:
            await wrong.submit(generate())
    finally:
        await wrong.aclose()
    assert caught.value.status_code == 401
    assert "key_wrong" not in caplog.text and "key_wrong" not in str(caught.value)


async def test_server_errors_and_timeouts_are_transient(
    provider: RunwayProvider, fake: FakeRunwayAPI
) -> None:
    job = await provider.submit(generate())
    fake.fail_next(503, "Service unavailable")
    with pytest.raises(ProviderUnavailableError):
        await provider.retrieve(job.id)
    fake.raise_next(httpx.ReadTimeout("slow"))
    with pytest.raises(ProviderConnectionError, match="timed out"):
        await provider.retrieve(job.id)
    fake.raise_next(httpx.ConnectError("refused"))
    with pytest.raises(ProviderConnectionError):
        await provider.submit(generate())
    assert (await provider.retrieve(job.id)).status == "queued"


async def test_unknown_task_is_not_found(provider: RunwayProvider) -> None:
    with pytest.raises(NotFoundError):
        await provider.retrieve("gen4.5|1280x720|2|no-such-task")
    with pytest.raises(InvalidRequestError):
        await provider.retrieve("a|b")


# -- content --------------------------------------------------------------------------------


async def test_download_streams_a_real_mp4_of_the_asked_size(
    provider: RunwayProvider, fake: FakeRunwayAPI
) -> None:
    job = await provider.submit(generate(size="720x1280", seconds=2))
    with pytest.raises(InvalidStateError):
        async with provider.download(job.id):
            pass
    fake.advance(60)
    data, size = await read_all(provider, job.id)
    assert size == len(data)
    with av.open(io.BytesIO(data), "r") as container:
        stream = container.streams.video[0]
        assert (stream.width, stream.height) == (720, 1280)
        assert container.duration is not None and 1.9 <= container.duration / 1e6 <= 2.2
    cdn = fake.calls("GET", "/out/", host=CDN_HOST)
    assert cdn and "authorization" not in cdn[-1].headers  # the secret never leaves for the CDN
    with pytest.raises(InvalidRequestError):
        async with provider.download(job.id, "thumbnail"):
            pass


async def test_expired_output_urls_404_and_download_asks_for_a_fresh_one(
    provider: RunwayProvider, fake: FakeRunwayAPI
) -> None:
    job = await provider.submit(generate())
    fake.advance(60)
    task_id = job.id.rsplit("|", 1)[1]
    old_url = fake._task_json(fake.tasks[task_id])["output"][0]
    fake.advance(fake.url_ttl + 1)
    async with httpx.AsyncClient(transport=fake.transport()) as http:
        assert (await http.get(old_url)).status_code == 404
    fake.expire_grants = 1  # the first fresh URL is already stale on arrival
    data, size = await read_all(provider, job.id)
    assert len(data) == size
    assert len(fake.calls("GET", "/v1/tasks/")) == 2
    fake.expire_grants = 2
    with pytest.raises(ProviderBadRequestError) as caught:
        async with provider.download(job.id):
            pass
    assert caught.value.status_code == 404


async def test_delete_cancels_a_running_task_and_deletes_a_finished_one(
    provider: RunwayProvider, fake: FakeRunwayAPI
) -> None:
    running = await provider.submit(generate())
    fake.advance(3)
    await provider.delete(running.id)
    state = await provider.retrieve(running.id)
    assert (state.status, state.error_code) == ("failed", "cancelled")
    await provider.delete(running.id)  # a cancelled task is finished: now it is deleted
    with pytest.raises(NotFoundError):
        await provider.retrieve(running.id)
    assert [c.method for c in fake.requests if c.method == "DELETE"] == ["DELETE", "DELETE"]


# -- Gemini Omni Flash 1.1: extend and edit through video_to_video --------------------------


async def test_omni_extends_a_runway_job_through_its_output_url(
    provider: RunwayProvider, fake: FakeRunwayAPI
) -> None:
    source = await provider.submit(generate(model="gemini_omni_flash_1.1", seconds=4))
    fake.advance(60)
    await provider.submit(
        generate(
            "and then it rains",
            model="gemini_omni_flash_1.1",
            kind="extend",
            seconds=4,
            source_id=source.id,
        )
    )
    (call,) = fake.calls("POST", "/v1/video_to_video")
    assert call.body["mode"] == "extend" and call.body["duration"] == 4
    assert call.body["videoUri"].startswith(f"https://{CDN_HOST}/out/")
    assert set(call.body) == {"model", "promptText", "ratio", "duration", "videoUri", "mode"}


async def test_omni_edits_an_uploaded_clip_as_a_data_uri(
    provider: RunwayProvider, fake: FakeRunwayAPI
) -> None:
    clip = SourceVideo(b"\x00\x00\x00\x18ftypmp42fake")
    await provider.submit(
        generate(
            "make it night",
            model="gemini_omni_flash_1.1",
            kind="edit",
            seconds=4,
            source_video=clip,
        )
    )
    (call,) = fake.calls("POST", "/v1/video_to_video")
    assert call.body["mode"] == "edit"
    assert call.body["videoUri"] == "data:video/mp4;base64," + base64.b64encode(clip.data).decode()
    with pytest.raises(InvalidRequestError, match="not a finished Runway job"):
        await provider.submit(
            generate(
                model="gemini_omni_flash_1.1",
                kind="edit",
                seconds=4,
                source_id="gemini_omni_flash_1.1|1280x720|4|missing",
            )
        )


# -- the engine drives it end to end -------------------------------------------------------


class QuickRunway(RunwayProvider):
    """The provider with a sub-second expected render, so the engine polls quickly."""

    def expected_render_seconds(self, request: SubmitRequest) -> float | None:
        return 0.3

    async def retrieve(self, remote_id: str) -> RemoteJob:
        return dataclasses.replace(await super().retrieve(remote_id), expected_seconds=0.3)


async def test_the_engine_generates_tracks_and_archives_a_runway_job(
    settings: Settings, fake: FakeRunwayAPI
) -> None:
    fake.speed, fake.queue_seconds, fake.render_seconds = 40.0, 2.0, 8.0  # 0.25 s of real time
    provider = QuickRunway(
        api_secret=fake.api_secret, base_url=BASE_URL, transport=fake.transport()
    )
    ledger = await Ledger.open(settings.ledger_url)
    pool = ProviderPool(settings, instances={"runway": provider})
    async with Engine(settings, ledger, catalog=Catalog(runway_models()), providers=pool) as engine:
        job = await engine.create("a cat", model="runway/veo3.1_fast", seconds=4, size="1280x720")
        assert job.remote_id is not None and job.remote_id.startswith("veo3.1_fast|1280x720|4|")
        done = await engine.wait(job.id)
    assert done.status is JobStatus.COMPLETED
    with av.open(done.video_path or "", "r") as container:
        assert (container.streams.video[0].width, container.streams.video[0].height) == (1280, 720)
    assert done.cost == pytest.approx(0.60)  # 60 credits reported by the task
    assert len(fake.calls("GET", "/v1/tasks/")) < 20


# -- settings -------------------------------------------------------------------------------


def test_from_settings_needs_the_secret_and_honours_the_base_url(settings: Settings) -> None:
    with pytest.raises(ConfigurationError, match="RUNWAYML_API_SECRET"):
        RunwayProvider.from_settings(settings)
    configured = Settings.model_validate(
        {**settings.model_dump(), "runway_api_secret": "key_x", "runway_base_url": BASE_URL}
    )
    provider = RunwayProvider.from_settings(configured)
    assert API_HOST in repr(provider) and "key_x" not in repr(provider)
    assert provider.variants == frozenset({"video"})


def test_from_settings_reads_the_sdks_environment_variable(
    isolated_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RUNWAYML_API_SECRET", "key_env")
    assert Settings().runway_api_secret is not None
    RunwayProvider.from_settings(Settings())


async def test_an_oversized_reference_is_refused_before_sending(
    provider: RunwayProvider, fake: FakeRunwayAPI
) -> None:
    huge = ReferenceImage(b"\x89PNG" + b"\x00" * (4 * 1024 * 1024), "image/png", 1280, 720)
    with pytest.raises(ReferenceImageError, match="5 MB"):
        await provider.submit(generate(reference=huge))
    assert fake.requests == []
