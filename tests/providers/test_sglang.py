"""The `openai` provider against an SGLang-diffusion-shaped server (docs/local-models.md)."""

from __future__ import annotations

import io
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path

import openai
import pytest

import sorakit
from sorakit.errors import JobFailedError
from sorakit.providers.openai import OpenAIProvider
from sorakit.settings import get_settings
from tests.providers.sglang_fake import SglangFake
from tests.providers.test_vllm_omni import (
    Recording,
    client_settings,
    png,
    request,
    running,
)


def provider_for(fake: SglangFake) -> tuple[OpenAIProvider, Recording]:
    transport = Recording(fake.app())
    provider = OpenAIProvider(base_url="http://gpu-box:30000/v1", api_key="k", transport=transport)
    return provider, transport


async def test_a_text_job_goes_as_json_and_the_queued_job_completes() -> None:
    fake = SglangFake()
    provider, transport = provider_for(fake)
    try:
        job = await provider.submit(request())
        states = [await provider.retrieve(job.id) for _ in range(2)]
        async with provider.download(job.id) as download:
            data = b"".join([chunk async for chunk in download.chunks])
        await provider.delete(job.id)  # answered with the job itself, `status: deleted`
    finally:
        await provider.aclose()
    assert fake.creates == ["application/json"]  # SGLang reads JSON: no form needed
    assert [state.status for state in states] == ["queued", "completed"]
    assert states[-1].progress == 100 and states[-1].size == "1280x720"
    assert data[4:8] == b"ftyp" and not fake.jobs
    assert [method for method, _, _ in transport.sent].count("POST") == 1


async def test_an_image_to_video_job_goes_as_multipart_with_its_reference() -> None:
    fake = SglangFake(image_to_video=True)
    provider, _ = provider_for(fake)
    try:
        job = await provider.submit(request(reference=png()))
    finally:
        await provider.aclose()
    assert fake.creates == ["multipart/form-data"]
    assert fake.references[job.id][:8] == b"\x89PNG\r\n\x1a\n"


async def test_a_failed_job_without_a_code_fails_with_the_servers_message(tmp_path: Path) -> None:
    fake = SglangFake(polls_to_finish=1, expected_seconds=0.2)
    with running(fake.app()) as url:
        async with sorakit.AsyncClient(settings=client_settings(tmp_path, url)) as client:
            with pytest.raises(JobFailedError) as failed:
                await client.generate("FAIL: a lighthouse", seconds=4, size="1280x720")
            (job,) = await client.jobs(limit=10)
    assert failed.value.code == "generation_failed"
    assert job.error_message == "CUDA error: out of memory"


async def test_a_text_job_renders_through_the_engine(tmp_path: Path) -> None:
    fake = SglangFake(polls_to_finish=2, expected_seconds=0.2)
    with running(fake.app()) as url:
        async with sorakit.AsyncClient(settings=client_settings(tmp_path, url)) as client:
            job = await client.generate("a lighthouse at dusk", seconds=4, size="720x1280")
    assert job.status == "completed" and job.provider == "openai"
    assert Path(job.video_path or "").read_bytes()[4:8] == b"ftyp"
    assert set(job.assets) == {"video"}  # video-only: no thumbnail asked for
    assert fake.creates == ["application/json"]


def test_the_openai_sdk_through_sorakit_serve_in_front_of_sglang(
    tmp_path: Path, serve: Callable[..., AbstractContextManager[str]]
) -> None:
    fake = SglangFake(polls_to_finish=2, expected_seconds=0.2)
    with running(fake.app()) as upstream:
        settings = get_settings(
            home=tmp_path / "gateway",
            openai_base_url=f"{upstream}/v1",
            openai_api_key="k",
            openai_video_only=True,
        )
        with serve(settings) as url:
            sdk = openai.OpenAI(base_url=f"{url}/v1", api_key="any", max_retries=0)
            video = sdk.videos.create_and_poll(
                model="sora-2",
                prompt="a lighthouse at dusk",
                seconds="4",
                size="720x1280",
                poll_interval_ms=100,
            )
            assert video.status == "completed", video
            data = sdk.videos.download_content(video.id).read()
    assert data[4:8] == b"ftyp" and len(fake.jobs) == 1
    assert io.BytesIO(data).getbuffer().nbytes > 1000
