"""The `openai` provider against a vLLM-Omni-shaped server (docs/local-models.md, second part)."""

from __future__ import annotations

import contextlib
import io
import logging
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path

import httpx
import openai
import pytest
import uvicorn
from fastapi import FastAPI
from PIL import Image

import sorakit
from sorakit.errors import JobFailedError, ProviderError, ProviderUnavailableError, SorakitError
from sorakit.providers.base import ReferenceImage, SubmitRequest
from sorakit.providers.openai import OpenAIProvider
from sorakit.settings import Settings, get_settings
from tests.conftest import ThreadedServer
from tests.providers.vllm_omni_fake import VllmOmniFake


class Recording(httpx.AsyncBaseTransport):
    """The ASGI transport, recording the method, path and content type of each request."""

    def __init__(self, app: FastAPI) -> None:
        self.inner = httpx.ASGITransport(app=app)
        self.sent: list[tuple[str, str, str]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        kind = request.headers.get("content-type", "").split(";")[0]
        self.sent.append((request.method, request.url.path, kind))
        return await self.inner.handle_async_request(request)


def provider_for(fake: VllmOmniFake, **kwargs: object) -> tuple[OpenAIProvider, Recording]:
    transport = Recording(fake.app())
    provider = OpenAIProvider(
        base_url="http://gpu-box:8091/v1",
        api_key="k",
        transport=transport,
        **kwargs,  # type: ignore[arg-type]
    )
    return provider, transport


def png(width: int = 1280, height: int = 720) -> ReferenceImage:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (30, 120, 200)).save(buffer, "PNG")
    return ReferenceImage(buffer.getvalue(), "image/png", width, height)


def request(
    *, reference: ReferenceImage | None = None, key: str = "k1", prompt: str = "a lighthouse"
) -> SubmitRequest:
    return SubmitRequest(
        kind="generate",
        model="sora-2",
        prompt=prompt,
        seconds=4,
        size="1280x720",
        idempotency_key=key,
        reference=reference,
    )


@contextlib.contextmanager
def running(app: FastAPI) -> Iterator[str]:
    """The fake on a loopback port, as a real server."""
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning")
    with ThreadedServer(config).running() as url:
        yield url


def client_settings(tmp_path: Path, url: str) -> Settings:
    return get_settings(
        home=tmp_path / "client",
        openai_base_url=f"{url}/v1",
        openai_api_key="k",
        openai_video_only=True,  # no thumbnail or spritesheet there
    )


async def test_a_server_named_sora_2_renders_an_image_to_video_job() -> None:
    fake = VllmOmniFake(served_model="sora-2")  # started with --served-model-name sora-2
    provider, _ = provider_for(fake)
    try:
        job = await provider.submit(request(reference=png()))
        assert job.status == "queued" and job.id.startswith("video_gen_")
        while not (state := await provider.retrieve(job.id)).finished:
            assert state.progress == 0  # vLLM-Omni reports no progress until the end
        assert state.status == "completed"
        async with provider.download(job.id) as download:
            data = b"".join([chunk async for chunk in download.chunks])
    finally:
        await provider.aclose()
    assert data[4:8] == b"ftyp"
    assert Image.open(io.BytesIO(fake.references[job.id])).size == (1280, 720)


async def test_a_server_running_another_model_refuses_the_catalogs_name() -> None:
    provider, _ = provider_for(VllmOmniFake())
    try:
        with pytest.raises(SorakitError, match="Model mismatch"):
            await provider.submit(request(reference=png()))
    finally:
        await provider.aclose()


async def test_a_text_only_job_is_resent_as_a_form_once_and_forms_are_kept(
    caplog: pytest.LogCaptureFixture,
) -> None:
    fake = VllmOmniFake(served_model="sora-2")
    provider, transport = provider_for(fake)
    caplog.set_level(logging.INFO, logger="sorakit.providers.openai")
    try:
        first = await provider.submit(request(key="k1"))
        second = await provider.submit(request(key="k2"))
    finally:
        await provider.aclose()
    creates = [kind for method, path, kind in transport.sent if method == "POST"]
    # The JSON body was refused by validation (422) before the handler ran: one job per create.
    assert creates == ["application/json", "multipart/form-data", "multipart/form-data"]
    assert fake.creates == ["multipart/form-data", "multipart/form-data"]
    assert {first.id, second.id} == set(fake.jobs) and len(fake.jobs) == 2
    assert fake.jobs[first.id]["seconds"] == "4" and fake.jobs[first.id]["size"] == "1280x720"
    assert "reads forms only" in caplog.text


async def test_always_sends_forms_from_the_first_create() -> None:
    fake = VllmOmniFake(served_model="sora-2")
    provider, transport = provider_for(fake, form_bodies="always")
    try:
        await provider.submit(request())
    finally:
        await provider.aclose()
    assert [kind for method, _, kind in transport.sent if method == "POST"] == [
        "multipart/form-data"
    ]


async def test_a_genuine_outage_on_retrieve_stays_an_outage() -> None:
    app = FastAPI()

    @app.get("/v1/videos/{video_id}")
    async def busy(video_id: str) -> None:
        from fastapi import HTTPException

        raise HTTPException(503, "Video generation handler not initialized.")

    provider = OpenAIProvider(
        base_url="http://gpu-box:8091/v1", api_key="k", transport=httpx.ASGITransport(app=app)
    )
    try:
        with pytest.raises(ProviderUnavailableError, match="not initialized"):
            await provider.retrieve("video_gen_1")
    finally:
        await provider.aclose()


@pytest.mark.parametrize("failed_status", [200, 500])
async def test_a_failed_render_fails_the_job_with_the_servers_reason(
    tmp_path: Path, failed_status: int
) -> None:
    fake = VllmOmniFake(
        served_model="sora-2", polls_to_finish=1, failed_status=failed_status, expected_seconds=0.2
    )
    with running(fake.app()) as url:
        async with sorakit.AsyncClient(settings=client_settings(tmp_path, url)) as client:
            with pytest.raises(JobFailedError) as failed:
                await client.generate("FAIL: a lighthouse", seconds=4, size="1280x720")
            (job,) = await client.jobs(limit=10)
    assert failed.value.code == "OutOfMemoryError"
    assert job.status == "failed" and "CUDA out of memory" in (job.error_message or "")
    assert len(fake.jobs) == 1  # one create, no retry made a second job


async def test_a_text_job_renders_through_the_engine(tmp_path: Path) -> None:
    fake = VllmOmniFake(served_model="sora-2", polls_to_finish=2, expected_seconds=0.2)
    with running(fake.app()) as url:
        async with sorakit.AsyncClient(settings=client_settings(tmp_path, url)) as client:
            job = await client.generate("a lighthouse at dusk", seconds=4, size="1280x720")
    assert job.status == "completed" and job.provider == "openai"
    assert Path(job.video_path or "").read_bytes()[4:8] == b"ftyp"
    assert fake.creates == ["multipart/form-data"]


async def test_a_thumbnail_answered_with_the_video_names_the_setting() -> None:
    fake = VllmOmniFake(served_model="sora-2", polls_to_finish=1)
    provider, _ = provider_for(fake)
    try:
        job = await provider.submit(request())
        assert (await provider.retrieve(job.id)).status == "completed"
        with pytest.raises(ProviderError, match="SORAKIT_OPENAI_VIDEO_ONLY"):
            async with provider.download(job.id, "thumbnail"):
                pass
    finally:
        await provider.aclose()


def test_the_openai_sdk_through_sorakit_serve_in_front_of_vllm_omni(
    tmp_path: Path, serve: Callable[..., AbstractContextManager[str]]
) -> None:
    fake = VllmOmniFake(served_model="sora-2", polls_to_finish=2, expected_seconds=0.2)
    with running(fake.app()) as upstream:
        settings = client_settings(tmp_path, upstream)
        with serve(settings) as url:
            sdk = openai.OpenAI(base_url=f"{url}/v1", api_key="any", max_retries=0)
            video = sdk.videos.create_and_poll(
                model="sora-2",
                prompt="a lighthouse",
                seconds="4",
                size="1280x720",
                poll_interval_ms=100,
            )
            assert video.status == "completed", video
            data = sdk.videos.download_content(video.id).read()
    assert data[4:8] == b"ftyp"
    assert fake.creates == ["multipart/form-data"] and len(fake.jobs) == 1


@pytest.mark.parametrize(
    ("error", "code", "message"),
    [
        ({"code": 500, "message": "boom"}, "500", "boom"),  # vLLM-Omni: `code: int | str`
        ({"message": "boom"}, "generation_failed", "boom"),  # SGLang: no code
        ("boom", "generation_failed", "boom"),
        (None, "generation_failed", "the server reports the job failed"),
    ],
)
async def test_every_shape_of_a_failed_jobs_error_reads_as_a_code_and_message(
    error: object, code: str, message: str
) -> None:
    body = {"id": "v1", "object": "video", "model": "m", "status": "failed", "progress": 0}
    body |= {"created_at": 1, "size": "1280x720", "seconds": "4", "error": error}
    transport = httpx.MockTransport(lambda _: httpx.Response(200, json=body))
    provider = OpenAIProvider(base_url="http://gpu-box/v1", api_key="k", transport=transport)
    try:
        job = await provider.retrieve("v1")
    finally:
        await provider.aclose()
    assert (job.status, job.error_code, job.error_message) == ("failed", code, message)
