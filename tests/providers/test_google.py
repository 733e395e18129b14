"""The Google providers through the real `google-genai` SDK against a loopback fake of its APIs."""

from __future__ import annotations

import base64
import io
import json
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import av
import httpx
import pytest
import uvicorn
from PIL import Image
from starlette.types import Receive, Scope, Send

from sorakit.catalog.google import google_models
from sorakit.errors import (
    ConfigurationError,
    InvalidRequestError,
    InvalidStateError,
    ModerationBlockedError,
    ProviderAuthError,
    ProviderBadRequestError,
    ProviderConnectionError,
    ProviderUnavailableError,
    RateLimitedError,
    TransientProviderError,
    job_failed,
)
from sorakit.providers.base import ReferenceImage, RemoteJob, SourceVideo, SubmitRequest
from sorakit.providers.google import GeminiProvider, VertexVeoProvider
from sorakit.settings import get_settings
from tests.conftest import ThreadedServer, make_mp4
from tests.providers.google_fake import FakeGoogle


class _Dispatch:
    """One loopback server for the module; each test swaps in its own fake."""

    def __init__(self) -> None:
        self.fake: FakeGoogle | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            return
        assert self.fake is not None
        await self.fake.app(scope, receive, send)


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[_Dispatch, str]]:
    dispatch = _Dispatch()
    config = uvicorn.Config(dispatch, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
    with ThreadedServer(config).running() as url:
        yield dispatch, url


@pytest.fixture
def fake(server: tuple[_Dispatch, str], tmp_path: Path) -> FakeGoogle:
    fake = FakeGoogle(tmp_path / "fake")
    (tmp_path / "fake").mkdir()
    server[0].fake = fake
    return fake


@pytest.fixture
def base_url(server: tuple[_Dispatch, str]) -> str:
    return server[1]


@pytest.fixture
async def gemini(fake: FakeGoogle, base_url: str) -> AsyncIterator[GeminiProvider]:
    provider = _gemini(fake, base_url)
    yield provider
    await provider.aclose()


_P = TypeVar("_P", GeminiProvider, VertexVeoProvider)


@asynccontextmanager
async def _opened(provider: _P) -> AsyncIterator[_P]:
    try:
        yield provider
    finally:
        await provider.aclose()


def _gemini(fake: FakeGoogle, base_url: str, **kwargs: Any) -> GeminiProvider:
    kwargs.setdefault("api_key", fake.api_key)
    return GeminiProvider(base_url=base_url, clock=lambda: fake.now, **kwargs)


def _request(**overrides: Any) -> SubmitRequest:
    values: dict[str, Any] = {
        "kind": "generate",
        "model": "gemini-omni-1.2-flash",
        "prompt": "a calico cat playing a piano",
        "seconds": 3,
        "size": "640x360",
        "idempotency_key": "key-1",
    }
    values.update(overrides)
    return SubmitRequest(**values)


def _bodies(fake: FakeGoogle, method: str = "POST") -> list[dict[str, Any]]:
    return [json.loads(body) for m, path, body in fake.requests if m == method and body]


async def _read(provider: GeminiProvider | VertexVeoProvider, remote_id: str) -> bytes:
    async with provider.download(remote_id) as download:
        assert download.media_type == "video/mp4"
        data = b"".join([chunk async for chunk in download.chunks])
        assert download.expected_size in (None, len(data))
    return data


def _probe(data: bytes) -> tuple[int, int, float]:
    with av.open(io.BytesIO(data), "r") as container:
        stream = container.streams.video[0]
        assert container.duration is not None
        return stream.width, stream.height, container.duration / 1_000_000


def _png(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (220, 20, 20)).save(buffer, "PNG")
    return buffer.getvalue()


def _is_red(data: bytes) -> bool:
    """Whether the video's first frame is the red reference image."""
    with av.open(io.BytesIO(data), "r") as container:
        frame = next(container.decode(video=0)).to_ndarray(format="rgb24")
    red, green, blue = frame.reshape(-1, 3).mean(axis=0)
    return bool(red > 150 and green < 90 and blue < 90)


async def _complete(
    fake: FakeGoogle, provider: GeminiProvider | VertexVeoProvider, job: RemoteJob
) -> RemoteJob:
    fake.advance(fake.queue_seconds + fake.render_seconds + 1)
    done = await provider.retrieve(job.id)
    assert done.status == "completed", done
    return done


# -- generation ------------------------------------------------------------------------------


async def test_text_to_video_runs_the_states_and_streams_a_real_mp4(
    fake: FakeGoogle, gemini: GeminiProvider
) -> None:
    job = await gemini.submit(_request())
    assert (job.status, job.progress, job.seconds, job.size) == ("queued", 0, "3", "640x360")
    assert job.id.endswith("|v1_omni_0001") and job.id.startswith("gemini-omni-1.2-flash|")
    (body,) = _bodies(fake)
    assert body == {
        "model": "gemini-omni-1.2-flash",
        "background": True,
        "input": "a calico cat playing a piano",
        "response_format": {
            "type": "video",
            "aspect_ratio": "16:9",
            "duration": "3s",
            "resolution": "360p",
            "delivery": "uri",
        },
        "generation_config": {"video_config": {"task": "text_to_video"}},
    }

    fake.advance(fake.queue_seconds + 30)
    running = await gemini.retrieve(job.id)
    assert running.status == "in_progress"
    assert running.progress is not None and 0 < running.progress < 99
    assert running.expected_seconds == gemini.expected_render_seconds(_request())

    await _complete(fake, gemini, job)
    width, height, seconds = _probe(await _read(gemini, job.id))
    assert (width, height) == (640, 360) and seconds == pytest.approx(3, abs=0.2)


async def test_progress_is_capped_below_100_while_running(
    fake: FakeGoogle, gemini: GeminiProvider
) -> None:
    fake.render_seconds = 100_000
    job = await gemini.submit(_request())
    fake.advance(50_000)
    assert (await gemini.retrieve(job.id)).progress == 99


async def test_a_reference_becomes_the_first_frame(
    fake: FakeGoogle, gemini: GeminiProvider
) -> None:
    png = _png(360, 640)
    ref = ReferenceImage(data=png, media_type="image/png", width=360, height=640)
    job = await gemini.submit(_request(reference=ref, size="360x640"))
    (body,) = _bodies(fake)
    assert body["input"] == [
        {
            "type": "user_input",
            "content": [
                {"type": "image", "data": base64.b64encode(png).decode(), "mime_type": "image/png"},
                {"type": "text", "text": "<FIRST_FRAME> a calico cat playing a piano"},
            ],
        }
    ]
    assert body["response_format"]["aspect_ratio"] == "9:16"
    assert body["generation_config"]["video_config"]["task"] == "image_to_video"
    await _complete(fake, gemini, job)
    assert _is_red(await _read(gemini, job.id))


@pytest.mark.parametrize(
    ("overrides", "param"),
    [
        ({"size": "1000x1000"}, "size"),
        ({"seconds": 12}, "seconds"),
        ({"size": "3840x2160x"}, "size"),
    ],
)
async def test_what_the_model_lacks_is_refused_before_sending(
    fake: FakeGoogle, gemini: GeminiProvider, overrides: dict[str, Any], param: str
) -> None:
    with pytest.raises(InvalidRequestError) as info:
        await gemini.submit(_request(**overrides))
    assert info.value.param == param
    assert fake.requests == []


async def test_the_fake_refuses_a_duration_of_the_wrong_type(
    fake: FakeGoogle, base_url: str
) -> None:
    body = {
        "model": "gemini-omni-1.2-flash",
        "background": True,
        "input": "x",
        "response_format": {"type": "video", "duration": 8},
    }
    async with httpx.AsyncClient(base_url=base_url) as client:
        headers = {"x-goog-api-key": fake.api_key}
        wrong = await client.post("/v1beta/interactions", json=body, headers=headers)
        extra = await client.post("/v1/interactions", json={**body, "size": "1"}, headers=headers)
    assert wrong.status_code == 400 and "TYPE_STRING" in wrong.json()["error"]["message"]
    assert extra.status_code == 400 and "Unknown name" in extra.json()["error"]["message"]


async def test_an_unknown_model_is_the_providers_bad_request(gemini: GeminiProvider) -> None:
    with pytest.raises(ProviderBadRequestError) as info:
        await gemini.submit(_request(model="gemini-omni-9-flash"))
    assert info.value.status_code == 404 and "not found" in str(info.value)


# -- failures --------------------------------------------------------------------------------


async def test_a_safety_block_is_moderation_blocked_with_googles_reason(
    fake: FakeGoogle, gemini: GeminiProvider
) -> None:
    job = await gemini.submit(_request(prompt="something forbidden"))
    fake.advance(fake.queue_seconds + fake.render_seconds + 1)
    failed = await gemini.retrieve(job.id)
    assert failed.status == "failed" and failed.error_code == "moderation_blocked"
    assert failed.error_message is not None and "support code 58061214" in failed.error_message
    assert isinstance(
        job_failed(job.id, failed.error_code, failed.error_message), ModerationBlockedError
    )
    with pytest.raises(InvalidStateError):
        await _read(gemini, job.id)


async def test_completed_without_a_video_is_a_failure(
    fake: FakeGoogle, gemini: GeminiProvider
) -> None:
    fake.drop_video = True
    job = await gemini.submit(_request())
    fake.advance(fake.queue_seconds + fake.render_seconds + 1)
    failed = await gemini.retrieve(job.id)
    assert (failed.status, failed.error_code) == ("failed", "no_video")
    assert failed.error_message is not None and "blocked in some regions" in failed.error_message


@pytest.mark.parametrize(
    ("status", "headers", "error", "retry_after"),
    [
        (429, {"Retry-After": "7"}, RateLimitedError, 7.0),
        (503, {}, ProviderUnavailableError, None),
    ],
)
async def test_error_answers_are_translated_without_sdk_retries(
    fake: FakeGoogle,
    gemini: GeminiProvider,
    status: int,
    headers: dict[str, str],
    error: type[TransientProviderError],
    retry_after: float | None,
) -> None:
    fake.fail_next(status, "Resource has been exhausted (e.g. check quota).", headers=headers)
    with pytest.raises(error) as info:
        await gemini.submit(_request())
    assert info.value.retry_after == retry_after and info.value.status_code == status
    assert "exhausted" in str(info.value)
    assert len(fake.requests) == 1


async def test_a_bad_key_is_an_auth_error_that_never_shows_the_key(
    fake: FakeGoogle, base_url: str
) -> None:
    async with _opened(_gemini(fake, base_url, api_key="gk-wrong-secret")) as provider:
        with pytest.raises(ProviderAuthError) as info:
            await provider.submit(_request())
    assert "API key not valid" in str(info.value) and "gk-wrong-secret" not in str(info.value)


async def test_a_slow_answer_is_a_connection_error(fake: FakeGoogle, base_url: str) -> None:
    fake.slow_next(1.5)
    async with _opened(_gemini(fake, base_url, timeout=0.3)) as provider:
        with pytest.raises(ProviderConnectionError):
            await provider.submit(_request())


async def test_an_expired_output_url_is_a_clear_error(
    fake: FakeGoogle, gemini: GeminiProvider
) -> None:
    job = await gemini.submit(_request())
    await _complete(fake, gemini, job)
    fake.advance(fake.file_ttl + 1)
    with pytest.raises(ProviderBadRequestError) as info:
        await _read(gemini, job.id)
    assert info.value.status_code == 404 and "expire" in str(info.value)


# -- restarts, remix, extend, edit, delete ---------------------------------------------------


async def test_a_new_process_reaches_the_job_by_its_remote_id_alone(
    fake: FakeGoogle, base_url: str
) -> None:
    first = _gemini(fake, base_url)
    job = await first.submit(_request(size="360x640"))
    await first.aclose()
    fake.advance(fake.queue_seconds + fake.render_seconds + 1)
    async with _opened(_gemini(fake, base_url)) as second:
        done = await second.retrieve(job.id)
        assert (done.status, done.size, done.seconds) == ("completed", "360x640", "3")
        assert _probe(await _read(second, job.id))[:2] == (360, 640)


async def test_remix_and_extend_continue_the_source_interaction(
    fake: FakeGoogle, gemini: GeminiProvider
) -> None:
    source = await gemini.submit(_request())
    await _complete(fake, gemini, source)
    remix = await gemini.submit(_request(kind="remix", prompt="now in winter", source_id=source.id))
    extend = await gemini.submit(
        _request(kind="extend", prompt="keep going", seconds=4, source_id=source.id)
    )
    _, remix_body, extend_body = _bodies(fake)
    assert remix.remixed_from == source.id
    assert remix_body["previous_interaction_id"] == "v1_omni_0001"
    assert remix_body["generation_config"]["video_config"]["task"] == "edit"
    assert extend_body["previous_interaction_id"] == "v1_omni_0001"
    assert extend_body["generation_config"]["video_config"]["task"] == "extend"
    assert extend_body["response_format"]["duration"] == "4s"
    assert extend.seconds == "7"
    done = await _complete(fake, gemini, extend)
    assert done.seconds == "7"
    assert _probe(await _read(gemini, extend.id))[2] == pytest.approx(7, abs=0.2)


async def test_an_edit_uploads_the_clip_as_a_video_part(
    fake: FakeGoogle, gemini: GeminiProvider
) -> None:
    clip = make_mp4()
    await gemini.submit(
        _request(kind="edit", prompt="make it night", source_video=SourceVideo(clip))
    )
    (body,) = _bodies(fake)
    video_part = body["input"][0]["content"][0]
    assert video_part == {
        "type": "video",
        "data": base64.b64encode(clip).decode(),
        "mime_type": "video/mp4",
    }
    assert "previous_interaction_id" not in body


async def test_a_remix_without_a_source_or_with_a_reference_is_refused(
    gemini: GeminiProvider,
) -> None:
    with pytest.raises(InvalidRequestError):
        await gemini.submit(_request(kind="remix"))
    ref = ReferenceImage(data=b"x", media_type="image/png", width=640, height=360)
    with pytest.raises(InvalidRequestError):
        await gemini.submit(_request(kind="remix", source_id="a|b|3|c", reference=ref))
    with pytest.raises(InvalidRequestError):
        await gemini.retrieve("not-a-gemini-id")


async def test_delete_removes_the_interaction(fake: FakeGoogle, gemini: GeminiProvider) -> None:
    job = await gemini.submit(_request())
    await gemini.delete(job.id)
    with pytest.raises(ProviderBadRequestError) as info:
        await gemini.retrieve(job.id)
    assert info.value.status_code == 404


# -- settings and catalog --------------------------------------------------------------------


def test_from_settings_names_the_missing_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("GEMINI_API_KEY", "GOOGLE_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ConfigurationError, match="GEMINI_API_KEY"):
        GeminiProvider.from_settings(get_settings())


async def test_from_settings_reads_google_api_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GEMINI_API_KEY", raising=False)
    monkeypatch.setenv("GOOGLE_API_KEY", "gk-from-env")
    provider = GeminiProvider.from_settings(get_settings())
    assert "gk-from-env" not in repr(provider)
    await provider.aclose()


def test_the_catalog_entries_match_the_providers() -> None:
    entries = {entry.name: entry for entry in google_models()}
    omni = entries["gemini-omni-1.2-flash"]
    assert omni.provider == "gemini" and omni.capabilities.remix and omni.capabilities.extension
    assert omni.capabilities.seconds == tuple(range(3, 11))
    assert omni.capabilities.price("1280x720", 8) == pytest.approx(0.8)
    veo = entries["veo-3.1-generate-001"]
    assert veo.provider == "vertex" and veo.capabilities.seconds == (4, 6, 8)
    assert veo.capabilities.price("1920x1080", 8) == pytest.approx(3.2)


# -- Veo on Vertex ---------------------------------------------------------------------------


def _vertex(fake: FakeGoogle, base_url: str, **kwargs: Any) -> VertexVeoProvider:
    kwargs.setdefault("access_token", fake.access_token)
    kwargs.setdefault("project", fake.project)
    return VertexVeoProvider(base_url=base_url, clock=lambda: fake.now, **kwargs)


@pytest.fixture
async def vertex(fake: FakeGoogle, base_url: str) -> AsyncIterator[VertexVeoProvider]:
    provider = _vertex(fake, base_url)
    yield provider
    await provider.aclose()


def _veo(**overrides: Any) -> SubmitRequest:
    return _request(
        **{"model": "veo-3.1-fast-generate-001", "seconds": 4, "size": "1280x720", **overrides}
    )


async def test_veo_generates_from_a_first_frame_and_streams_the_inline_mp4(
    fake: FakeGoogle, vertex: VertexVeoProvider
) -> None:
    png = _png(1280, 720)
    ref = ReferenceImage(data=png, media_type="image/png", width=1280, height=720)
    job = await vertex.submit(_veo(reference=ref))
    assert (job.status, job.seconds, job.size) == ("queued", "4", "1280x720")
    (body,) = _bodies(fake)
    assert body == {
        "instances": [
            {
                "prompt": "a calico cat playing a piano",
                "image": {
                    "bytesBase64Encoded": base64.b64encode(png).decode(),
                    "mimeType": "image/png",
                },
            }
        ],
        "parameters": {
            "sampleCount": 1,
            "durationSeconds": 4,
            "aspectRatio": "16:9",
            "resolution": "720p",
            "generateAudio": True,
        },
    }
    assert fake.requests[0][1].endswith(
        "/projects/sorakit-test/locations/us-central1/publishers/google/models/"
        "veo-3.1-fast-generate-001:predictLongRunning"
    )
    fake.advance(fake.queue_seconds + 10)
    running = await vertex.retrieve(job.id)
    assert running.status == "in_progress" and running.progress is not None and running.progress > 0
    await _complete(fake, vertex, job)
    data = await _read(vertex, job.id)
    width, height, seconds = _probe(data)
    assert (width, height) == (1280, 720) and seconds == pytest.approx(4, abs=0.2)
    assert _is_red(data)


async def test_veo_safety_filter_is_moderation_blocked(
    fake: FakeGoogle, vertex: VertexVeoProvider
) -> None:
    job = await vertex.submit(_veo(prompt="a forbidden scene"))
    fake.advance(fake.queue_seconds + fake.render_seconds + 1)
    failed = await vertex.retrieve(job.id)
    assert (failed.status, failed.error_code) == ("failed", "moderation_blocked")
    assert failed.error_message is not None and "58061214" in failed.error_message


async def test_veo_errors_are_translated(
    fake: FakeGoogle, base_url: str, vertex: VertexVeoProvider
) -> None:
    fake.fail_next(
        429, "Quota exceeded for aiplatform.googleapis.com.", headers={"Retry-After": "30"}
    )
    with pytest.raises(RateLimitedError) as limited:
        await vertex.submit(_veo())
    assert limited.value.retry_after == 30 and len(fake.requests) == 1
    with pytest.raises(ProviderBadRequestError, match="not found"):
        await vertex.submit(_veo(model="veo-9-generate-001", seconds=8))
    async with _opened(_vertex(fake, base_url, access_token="ya29.expired")) as wrong:
        with pytest.raises(ProviderAuthError) as denied:
            await wrong.submit(_veo())
    assert "ya29.expired" not in str(denied.value)
    fake.slow_next(1.5)
    async with _opened(_vertex(fake, base_url, timeout=0.3)) as slow:
        with pytest.raises(ProviderConnectionError):
            await slow.submit(_veo())


async def test_veo_follow_ups_use_the_jobs_own_region_after_a_restart(
    fake: FakeGoogle, base_url: str, vertex: VertexVeoProvider
) -> None:
    job = await vertex.submit(_veo(size="720x1280", seconds=6))
    fake.advance(fake.queue_seconds + fake.render_seconds + 1)
    async with _opened(_vertex(fake, base_url, location="europe-west4")) as elsewhere:
        done = await elsewhere.retrieve(job.id)
        assert (done.status, done.size, done.seconds) == ("completed", "720x1280", "6")
        assert _probe(await _read(elsewhere, job.id))[:2] == (720, 1280)
    assert all("/locations/us-central1/" in path for _, path, _ in fake.requests)


async def test_veo_extends_the_source_video(fake: FakeGoogle, vertex: VertexVeoProvider) -> None:
    source = await vertex.submit(_veo())
    await _complete(fake, vertex, source)
    extend = await vertex.submit(_veo(kind="extend", prompt="and then", source_id=source.id))
    assert extend.seconds == "8"
    body = _bodies(fake)[-1]
    assert body["instances"][0]["video"]["mimeType"] == "video/mp4"
    assert body["parameters"]["durationSeconds"] == 4
    await _complete(fake, vertex, extend)
    assert _probe(await _read(vertex, extend.id))[2] == pytest.approx(8, abs=0.3)


async def test_veo_refuses_what_it_lacks_before_sending(
    fake: FakeGoogle, vertex: VertexVeoProvider
) -> None:
    for request in (_veo(kind="remix", source_id="x"), _veo(seconds=5), _veo(size="640x360")):
        with pytest.raises(InvalidRequestError):
            await vertex.submit(request)
    assert fake.requests == []


async def test_the_fake_refuses_a_string_duration_seconds(fake: FakeGoogle, base_url: str) -> None:
    path = (
        f"/v1beta1/projects/{fake.project}/locations/us-central1/publishers/google/models/"
        "veo-3.1-generate-001:predictLongRunning"
    )
    body = {"instances": [{"prompt": "x"}], "parameters": {"durationSeconds": "8"}}
    async with httpx.AsyncClient(base_url=base_url) as client:
        headers = {"authorization": f"Bearer {fake.access_token}"}
        answer = await client.post(path, json=body, headers=headers)
    assert answer.status_code == 400 and "TYPE_INT32" in answer.json()["error"]["message"]


def test_vertex_from_settings_names_the_missing_project(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GOOGLE_CLOUD_PROJECT", raising=False)
    with pytest.raises(ConfigurationError, match="GOOGLE_CLOUD_PROJECT"):
        VertexVeoProvider.from_settings(get_settings())
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "p")
    provider = VertexVeoProvider.from_settings(get_settings(vertex_access_token="ya29.x"))
    assert provider.project == "p" and "ya29" not in repr(provider)


async def test_vertex_without_any_credential_is_a_configuration_error(
    fake: FakeGoogle, base_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "missing.json"))
    async with _opened(_vertex(fake, base_url, access_token=None)) as provider:
        with pytest.raises(ConfigurationError, match="SORAKIT_VERTEX_ACCESS_TOKEN"):
            await provider.submit(_veo())
    assert fake.requests == []
