"""Google providers: Veo outputs through Cloud Storage, last frames and reference images,
cancel before delete, and per-request webhooks, through `google-genai` against the fake."""

from __future__ import annotations

import base64
import io
import json
from typing import Any

import httpx
import pytest
from PIL import Image

from sorakit.catalog.google import google_models
from sorakit.errors import (
    ConfigurationError,
    InvalidRequestError,
    ProviderAuthError,
    ProviderBadRequestError,
)
from sorakit.providers.base import ReferenceImage
from sorakit.providers.google import GeminiProvider, VertexVeoProvider
from sorakit.settings import get_settings
from tests.providers import test_google as base
from tests.providers.google_fake import FakeGoogle
from tests.providers.test_google import (
    _bodies,
    _complete,
    _is_red,
    _opened,
    _png,
    _probe,
    _read,
    _request,
    _veo,
    _vertex,
)

# the fixtures of the main Google module, shared rather than copied
server, fake, base_url = base.server, base.fake, base.base_url
gemini, vertex = base.gemini, base.vertex

OUTPUT = "gs://sorakit-out/veo/renders/"


def _ref(width: int, height: int, color: tuple[int, int, int] = (220, 20, 20)) -> ReferenceImage:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), color).save(buffer, "PNG")
    data = buffer.getvalue()
    return ReferenceImage(data=data, media_type="image/png", width=width, height=height)


def _image_json(ref: ReferenceImage) -> dict[str, str]:
    return {"bytesBase64Encoded": base64.b64encode(ref.data).decode(), "mimeType": "image/png"}


def _methods(fake: FakeGoogle) -> list[tuple[str, str]]:
    return [(method, path.split("/interactions/")[-1]) for method, path, _ in fake.requests]


# -- Veo through Cloud Storage ---------------------------------------------------------------


async def test_veo_writes_to_storage_and_the_video_streams_from_cloud_storage(
    fake: FakeGoogle,
    base_url: str,
) -> None:
    provider = _vertex(fake, base_url, output_gcs_uri=OUTPUT, gcs_base_url=base_url)
    async with _opened(provider):
        job = await provider.submit(_veo(reference=_ref(1280, 720)))
        (body,) = _bodies(fake)
        assert body["parameters"]["storageUri"] == OUTPUT
        await _complete(fake, provider, job)
        data = await _read(provider, job.id)
    assert _probe(data)[:2] == (1280, 720) and _is_red(data)
    operation = job.id.rsplit("/", 1)[1]
    (raw,) = fake.gcs.raw_paths
    assert raw == f"/download/storage/v1/b/sorakit-out/o/veo%2Frenders%2F{operation}%2Fsample_0.mp4"
    assert ("sorakit-out", f"veo/renders/{operation}/sample_0.mp4") in fake.gcs.objects


async def test_a_restart_without_the_setting_still_downloads_from_storage(
    fake: FakeGoogle,
    base_url: str,
) -> None:
    async with _opened(_vertex(fake, base_url, output_gcs_uri=OUTPUT)) as first:
        job = await first.submit(_veo(size="720x1280", seconds=6))
    fake.advance(fake.queue_seconds + fake.render_seconds + 1)
    async with _opened(_vertex(fake, base_url, gcs_base_url=base_url)) as second:
        assert (await second.retrieve(job.id)).status == "completed"
        assert _probe(await _read(second, job.id))[:2] == (720, 1280)


async def test_without_the_setting_the_video_stays_inline(
    fake: FakeGoogle,
    vertex: VertexVeoProvider,
) -> None:
    job = await vertex.submit(_veo())
    assert "storageUri" not in _bodies(fake)[0]["parameters"]
    await _complete(fake, vertex, job)
    assert _probe(await _read(vertex, job.id))[:2] == (1280, 720)
    assert fake.gcs.raw_paths == []


async def test_cloud_storage_failures_are_translated(
    fake: FakeGoogle,
    base_url: str,
) -> None:
    provider = _vertex(fake, base_url, output_gcs_uri=OUTPUT, gcs_base_url=base_url)
    async with _opened(provider):
        job = await provider.submit(_veo())
        await _complete(fake, provider, job)
        await _read(provider, job.id)  # the operation names the object now
        fake.gcs.access_token = "ya29.other-project"
        with pytest.raises(ProviderAuthError) as denied:
            await _read(provider, job.id)
        assert denied.value.status_code == 401
        fake.gcs.access_token = fake.access_token
        fake.gcs.objects.clear()
        with pytest.raises(ProviderBadRequestError) as gone:
            await _read(provider, job.id)
    assert gone.value.status_code == 404 and "gone" in str(gone.value)
    assert fake.access_token not in str(denied.value)


async def test_the_gcs_fake_wants_the_bearer_token(
    fake: FakeGoogle,
    base_url: str,
) -> None:
    fake.gcs.put("gs://b/known.mp4", lambda: fake.directory / "missing")
    async with httpx.AsyncClient(base_url=base_url) as client:
        path = "/download/storage/v1/b/b/o/known.mp4?alt=media"
        anonymous = await client.get(path)
        unknown = await client.get(
            "/download/storage/v1/b/b/o/other.mp4?alt=media",
            headers={"authorization": f"Bearer {fake.access_token}"},
        )
    assert anonymous.status_code == 401 and unknown.status_code == 404


def test_a_bad_output_uri_is_a_configuration_error(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigurationError, match="gs://bucket/prefix/"):
        VertexVeoProvider(project="p", output_gcs_uri="s3://bucket/x/")
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "p")
    settings = get_settings(vertex_access_token="ya29.x", vertex_output_gcs_uri=OUTPUT)
    assert VertexVeoProvider.from_settings(settings).output_gcs_uri == OUTPUT


# -- Veo: last frame and reference images ----------------------------------------------------


async def test_veo_sends_the_last_frame_after_the_first(
    fake: FakeGoogle,
    vertex: VertexVeoProvider,
) -> None:
    first, last = _ref(1280, 720), _ref(1280, 720, (20, 20, 220))
    job = await vertex.submit(_veo(reference=first, last_frame=last))
    (body,) = _bodies(fake)
    assert body["instances"][0]["image"] == _image_json(first)
    assert body["instances"][0]["lastFrame"] == _image_json(last)
    assert fake.jobs[job.id.split("|")[3]].images == ("image", "lastFrame")


async def test_veo_sends_asset_references(
    fake: FakeGoogle,
    vertex: VertexVeoProvider,
) -> None:
    refs = (_ref(512, 512), _ref(300, 200))
    job = await vertex.submit(_veo(seconds=8, reference_images=refs))
    (body,) = _bodies(fake)
    assert body["instances"][0]["referenceImages"] == [
        {"image": _image_json(ref), "referenceType": "ASSET"} for ref in refs
    ]
    assert "image" not in body["instances"][0]
    assert fake.jobs[job.id.split("|")[3]].images == ("ASSET", "ASSET")


@pytest.mark.parametrize(
    ("overrides", "param"),
    [
        ({"last_frame": "ref"}, "last_frame"),
        ({"seconds": 4, "reference_images": 1}, "reference_images"),
        ({"seconds": 8, "size": "720x1280", "reference_images": 1}, "reference_images"),
        ({"seconds": 8, "reference_images": 4}, "reference_images"),
        ({"seconds": 8, "reference": "ref", "reference_images": 1}, "reference_images"),
    ],
)
async def test_veo_refuses_frames_and_references_it_cannot_honour(
    fake: FakeGoogle,
    vertex: VertexVeoProvider,
    overrides: dict[str, Any],
    param: str,
) -> None:
    values = dict(overrides)
    for key in ("last_frame", "reference"):
        if values.get(key) == "ref":
            values[key] = _ref(1280, 720)
    if "reference_images" in values:
        values["reference_images"] = (_ref(64, 64),) * values["reference_images"]
    with pytest.raises(InvalidRequestError) as info:
        await vertex.submit(_veo(**values))
    assert info.value.param == param
    assert fake.requests == []


async def test_the_fake_refuses_what_veo_refuses(fake: FakeGoogle, base_url: str) -> None:
    path = (
        f"/v1beta1/projects/{fake.project}/locations/us-central1/publishers/google/models/"
        "veo-3.1-generate-001:predictLongRunning"
    )
    image = _image_json(_ref(64, 64))
    asset = {"image": image, "referenceType": "ASSET"}
    bodies = [
        {"instances": [{"prompt": "x", "lastFrame": image}]},
        {
            "instances": [{"prompt": "x", "referenceImages": [asset]}],
            "parameters": {"durationSeconds": 4},
        },
        {
            "instances": [{"prompt": "x", "referenceImages": [asset] * 4}],
            "parameters": {"durationSeconds": 8},
        },
        {"instances": [{"prompt": "x"}], "parameters": {"storageUri": "bucket/x"}},
    ]
    headers = {"authorization": f"Bearer {fake.access_token}"}
    async with httpx.AsyncClient(base_url=base_url) as client:
        answers = [await client.post(path, json=body, headers=headers) for body in bodies]
    assert [answer.status_code for answer in answers] == [400] * 4
    assert "lastFrame requires image" in answers[0].json()["error"]["message"]


# -- Gemini Omni: last frame and reference images --------------------------------------------


async def test_omni_binds_first_last_and_reference_images_by_tags(
    fake: FakeGoogle,
    gemini: GeminiProvider,
) -> None:
    first, last, ref = _ref(640, 360), _ref(640, 360, (0, 0, 200)), _ref(100, 100)
    job = await gemini.submit(_request(reference=first, last_frame=last, reference_images=(ref,)))
    (body,) = _bodies(fake)
    content = body["input"][0]["content"]
    assert [part["data"] for part in content[:3]] == [
        base64.b64encode(image.data).decode() for image in (first, last, ref)
    ]
    assert content[3] == {
        "type": "text",
        "text": "<FIRST_FRAME> <LAST_FRAME> <IMAGE_REF_0> a calico cat playing a piano",
    }
    assert body["generation_config"]["video_config"]["task"] == "image_to_video"
    assert fake.jobs[job.id.split("|")[3]].images == ("FIRST_FRAME", "LAST_FRAME", "IMAGE_REF_0")
    await _complete(fake, gemini, job)
    assert _is_red(await _read(gemini, job.id))


async def test_omni_references_alone_are_reference_to_video(
    fake: FakeGoogle,
    gemini: GeminiProvider,
) -> None:
    refs = (_ref(100, 100), _ref(50, 80), _ref(80, 50))
    await gemini.submit(_request(reference_images=refs))
    (body,) = _bodies(fake)
    assert body["generation_config"]["video_config"]["task"] == "reference_to_video"
    text = body["input"][0]["content"][-1]["text"]
    assert text.startswith("<IMAGE_REF_0> <IMAGE_REF_1> <IMAGE_REF_2> ")


@pytest.mark.parametrize(
    ("overrides", "param"),
    [
        ({"last_frame": 1}, "last_frame"),
        ({"reference_images": 4}, "reference_images"),
        (
            {"kind": "extend", "source_id": "m|640x360|3|v1_x", "reference_images": 1},
            "reference_images",
        ),
        ({"kind": "remix", "source_id": "m|640x360|3|v1_x", "last_frame": 1}, "last_frame"),
    ],
)
async def test_omni_refuses_images_it_cannot_take(
    fake: FakeGoogle,
    gemini: GeminiProvider,
    overrides: dict[str, Any],
    param: str,
) -> None:
    values = dict(overrides)
    if "last_frame" in values:
        values["last_frame"] = _ref(640, 360)
    if "reference_images" in values:
        values["reference_images"] = (_ref(64, 64),) * values["reference_images"]
    with pytest.raises(InvalidRequestError) as info:
        await gemini.submit(_request(**values))
    assert info.value.param == param
    assert fake.requests == []


async def test_the_fake_refuses_images_the_prompt_does_not_bind(
    fake: FakeGoogle,
    base_url: str,
) -> None:
    image = {
        "type": "image",
        "data": base64.b64encode(_png(8, 8)).decode(),
        "mime_type": "image/png",
    }

    def body(text: str, images: int) -> dict[str, Any]:
        content = [image] * images + [{"type": "text", "text": text}]
        return {
            "model": "gemini-omni-1.2-flash",
            "background": True,
            "input": [{"type": "user_input", "content": content}],
            "response_format": {"type": "video", "duration": "4s"},
        }

    headers = {"x-goog-api-key": fake.api_key}
    async with httpx.AsyncClient(base_url=base_url) as client:
        untagged = await client.post("/v1/interactions", json=body("a cat", 1), headers=headers)
        last_only = await client.post(
            "/v1/interactions", json=body("<LAST_FRAME> x", 1), headers=headers
        )
        tagged = await client.post(
            "/v1/interactions", json=body("<IMAGE_REF_0> x", 1), headers=headers
        )
    assert (untagged.status_code, last_only.status_code, tagged.status_code) == (400, 400, 200)


# -- Gemini Omni: cancel before delete, webhooks ---------------------------------------------


async def test_delete_cancels_a_running_interaction_first(
    fake: FakeGoogle,
    gemini: GeminiProvider,
) -> None:
    job = await gemini.submit(_request())
    fake.advance(fake.queue_seconds + 1)
    fake.requests.clear()
    await gemini.delete(job.id)
    assert _methods(fake) == [
        ("GET", "v1_omni_0001"),
        ("POST", "v1_omni_0001/cancel"),
        ("DELETE", "v1_omni_0001"),
    ]
    stored = fake.jobs["v1_omni_0001"]
    assert stored.cancelled and stored.deleted


async def test_delete_of_a_finished_interaction_only_deletes(
    fake: FakeGoogle,
    gemini: GeminiProvider,
) -> None:
    job = await gemini.submit(_request())
    await _complete(fake, gemini, job)
    fake.requests.clear()
    await gemini.delete(job.id)
    assert _methods(fake) == [("GET", "v1_omni_0001"), ("DELETE", "v1_omni_0001")]
    assert not fake.jobs["v1_omni_0001"].cancelled


async def test_a_cancelled_interaction_reads_as_failed(
    fake: FakeGoogle,
    gemini: GeminiProvider,
    base_url: str,
) -> None:
    job = await gemini.submit(_request())
    async with httpx.AsyncClient(base_url=base_url) as client:
        headers = {"x-goog-api-key": fake.api_key}
        cancel = await client.post("/v1beta/interactions/v1_omni_0001/cancel", headers=headers)
        again = await client.post("/v1beta/interactions/v1_omni_0001/cancel", headers=headers)
    assert cancel.json()["status"] == "cancelled" and again.status_code == 400
    failed = await gemini.retrieve(job.id)
    assert (failed.status, failed.error_code) == ("failed", "cancelled")


async def test_a_callback_url_is_the_interactions_own_webhook(
    fake: FakeGoogle,
    gemini: GeminiProvider,
    vertex: VertexVeoProvider,
) -> None:
    url = "https://gateway.example/v1/hooks/google/job-1?token=abc"
    job = await gemini.submit(_request(callback_url=url))
    (body,) = _bodies(fake)
    assert body["webhook_config"] == {"uris": [url]}
    assert fake.jobs[job.id.split("|")[3]].webhook_uris == (url,)
    await vertex.submit(_veo(callback_url=url))  # Vertex takes no per-request URL: ignored
    assert "webhook" not in json.dumps(_bodies(fake)[-1]).lower()


def test_the_catalog_offers_last_frames_and_references() -> None:
    for entry in google_models():
        assert entry.capabilities.last_frame and entry.capabilities.reference_images == 3
