"""The official `openai` SDK drives a real `sorakit serve` on loopback through every Videos call."""

from __future__ import annotations

import base64
import io
import os
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path

import av
import httpx
import openai
import pytest
from openai.types import Video
from PIL import Image

from sorakit.settings import Settings, get_settings
from tests.conftest import make_mp4

ServeFactory = Callable[..., AbstractContextManager[str]]


def png(size: tuple[int, int], color: str = "teal") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, "PNG")
    return buffer.getvalue()


def probe(data: bytes) -> tuple[int, int, float, bool]:
    with av.open(io.BytesIO(data)) as container:
        video = container.streams.video[0]
        return (
            video.width,
            video.height,
            float(container.duration or 0) / 1e6,
            bool(container.streams.audio),
        )


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Settings]]:
    """One server for the module: the SDK's calls do not interfere with each other."""
    import uvicorn

    from sorakit.server import create_app
    from tests.conftest import ThreadedServer

    home = tmp_path_factory.mktemp("serve-home")
    settings = get_settings(home=home, simulator_render_seconds=0.4)
    config = uvicorn.Config(create_app(settings), host="127.0.0.1", port=0, log_level="warning")
    with ThreadedServer(config).running() as url:
        yield url, settings


@pytest.fixture
def client(server: tuple[str, Settings]) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=f"{server[0]}/v1", api_key="any-token-works", max_retries=0) as sdk:
        yield sdk


def test_create_and_poll_then_every_content_variant(client: openai.OpenAI) -> None:
    video = client.videos.create_and_poll(
        prompt="A calico cat playing a piano on stage", model="sora-2", seconds="4", size="1280x720"
    )
    assert video.status == "completed" and video.progress == 100
    assert video.id.startswith("video_") and len(video.id) == 38
    assert (video.model, video.seconds, video.size) == ("sora-2", "4", "1280x720")
    assert video.completed_at is not None and video.error is None
    data = client.videos.download_content(video.id).read()
    width, height, duration, audio = probe(data)
    assert (width, height, audio) == (1280, 720, True)
    assert duration == pytest.approx(4.0, abs=0.1)
    thumbnail = client.videos.download_content(video.id, variant="thumbnail").read()
    assert thumbnail[:4] == b"RIFF" and thumbnail[8:12] == b"WEBP"
    sheet = client.videos.download_content(video.id, variant="spritesheet").read()
    assert sheet[:3] == b"\xff\xd8\xff"


def test_reference_as_file_and_as_data_url(client: openai.OpenAI) -> None:
    done = client.videos.create_and_poll(
        prompt="a lighthouse at dusk",
        size="720x1280",
        input_reference=("ref.png", png((720, 1280)), "image/png"),
    )
    assert done.status == "completed"
    # The SDK cannot send the object form itself (it takes `input_reference` for a file), so
    # send what it would: bracket-nested multipart, and the JSON form through its raw `post`.
    data_url = "data:image/png;base64," + base64.b64encode(png((720, 1280), "orange")).decode()
    nested = httpx.post(
        f"{client.base_url}videos",
        files=[
            ("prompt", (None, "a lighthouse at noon")),
            ("input_reference[image_url]", (None, data_url)),
        ],
    )
    assert nested.status_code == 200, nested.text
    assert client.videos.poll(nested.json()["id"]).status == "completed"
    as_json = client.post(
        "/videos",
        cast_to=Video,
        body={
            "prompt": "a lighthouse at night",
            "input_reference": {"image_url": data_url},
        },
    )
    assert client.videos.poll(as_json.id).status == "completed"
    with pytest.raises(openai.BadRequestError, match="Inpaint image must match"):
        client.videos.create(
            prompt="x", size="1280x720", input_reference=("ref.png", png((640, 480)), "image/png")
        )


def test_remix_extend_edit(client: openai.OpenAI) -> None:
    base = client.videos.create_and_poll(prompt="a paper boat on a pond", seconds="4")
    remix = client.videos.remix(base.id, prompt="make it night")
    assert remix.remixed_from_video_id == base.id
    remix = client.videos.poll(remix.id)
    assert (remix.status, remix.seconds, remix.size) == ("completed", base.seconds, base.size)
    assert (
        client.videos.download_content(remix.id).read()
        != client.videos.download_content(base.id).read()
    )

    # `video: {id}` is also beyond the SDK's file extraction: JSON through its raw `post`.
    extension = client.post(
        "/videos/extensions",
        cast_to=Video,
        body={
            "prompt": "the boat sails on",
            "seconds": "4",
            "video": {"id": base.id},
        },
    )
    extended = client.videos.poll(extension.id)
    assert (extended.status, extended.seconds) == ("completed", "8")
    assert probe(client.videos.download_content(extended.id).read())[2] == pytest.approx(
        8.0, abs=0.1
    )

    edit = httpx.post(
        f"{client.base_url}videos/edits",
        files=[("prompt", (None, "add rain")), ("video[id]", (None, base.id))],
    )
    edited = client.videos.poll(edit.json()["id"])
    assert edited.status == "completed"
    uploaded = client.videos.poll(
        client.videos.edit(
            prompt="add snow", video=("clip.mp4", make_mp4(1.0, (320, 240)), "video/mp4")
        ).id
    )
    assert (uploaded.status, uploaded.size) == ("completed", "320x240")


def test_characters(client: openai.OpenAI) -> None:
    made = client.videos.create_character(
        name="Mochi", video=("mochi.mp4", make_mp4(), "video/mp4")
    )
    assert made.name == "Mochi" and made.id
    assert client.videos.get_character(made.id).name == "Mochi"
    with pytest.raises(openai.NotFoundError):
        client.videos.get_character("char_missing")


def test_list_paginates_and_delete(client: openai.OpenAI) -> None:
    made = [client.videos.create(prompt=f"clip {i}") for i in range(3)]
    first = client.videos.list(limit=2)
    assert len(first.data) == 2 and first.has_more
    every = [v.id for v in client.videos.list(limit=2)]  # the SDK follows `after` itself
    assert [m.id for m in reversed(made)] == every[:3]
    assert len(every) == len(set(every))
    ascending = [v.id for v in client.videos.list(limit=100, order="asc")]
    assert ascending == list(reversed(every))
    done = client.videos.poll(made[1].id)
    deleted = client.videos.delete(done.id)
    assert (deleted.id, deleted.deleted, deleted.object) == (done.id, True, "video.deleted")
    with pytest.raises(openai.NotFoundError):
        client.videos.retrieve(done.id)


def test_errors_are_the_openai_envelope(
    client: openai.OpenAI, server: tuple[str, Settings]
) -> None:
    with pytest.raises(openai.NotFoundError) as missing:
        client.videos.retrieve("video_0000")
    assert missing.value.body == {
        "message": "No video found with id 'video_0000'.",
        "type": "invalid_request_error",
        "param": "video_id",
        "code": None,
    }
    with pytest.raises(openai.NotFoundError, match="sora-3"):
        client.videos.create(prompt="x", model="sora-3")
    with pytest.raises(openai.BadRequestError, match="'720x1280' or '1280x720'"):
        client.videos.create(prompt="x", size="1792x1024")
    url = f"{server[0]}/v1/videos"
    answer = httpx.post(url, json={"prompt": "x", "seconds": 8})
    assert answer.status_code == 400
    assert answer.json()["error"] == {
        "message": "Invalid type for 'seconds': expected one of '4', '8', '12', '16', or '20', "
        "but got an integer instead.",
        "type": "invalid_request_error",
        "param": "seconds",
        "code": None,
    }
    assert httpx.post(url, json={"prompt": "x", "nope": 1}).json()["error"]["param"] == "nope"
    assert httpx.get(f"{server[0]}/v1/nothing").json()["error"]["type"] == "invalid_request_error"
    assert httpx.get(f"{url}?limit=500").status_code == 400


def test_idempotency_key_and_poll_hint(server: tuple[str, Settings]) -> None:
    url = f"{server[0]}/v1/videos"
    first = httpx.post(url, json={"prompt": "once"}, headers={"Idempotency-Key": "abc"})
    again = httpx.post(url, json={"prompt": "once"}, headers={"Idempotency-Key": "abc"})
    assert first.json()["id"] == again.json()["id"]
    assert int(first.headers["openai-poll-after-ms"]) >= 100
    status = httpx.get(f"{url}/{first.json()['id']}")
    assert status.json()["status"] in ("queued", "in_progress", "completed")


def test_server_survives_a_restart(tmp_path: Path, serve: ServeFactory) -> None:
    settings = get_settings(home=tmp_path / "h", simulator_render_seconds=1.0)
    with serve(settings) as url:
        job = httpx.post(f"{url}/v1/videos", json={"prompt": "survive"}).json()
    with serve(settings) as url, openai.OpenAI(base_url=f"{url}/v1", api_key="x") as sdk:
        done = sdk.videos.poll(job["id"])
        assert done.status == "completed"
        assert len(sdk.videos.download_content(done.id).read()) > 1000
    assert os.path.exists(settings.home / "sorakit.db")


def test_unfinished_videos_refuse_content_remix_and_delete(
    tmp_path: Path, serve: ServeFactory
) -> None:
    settings = get_settings(home=tmp_path / "h", simulator_render_seconds=60.0)
    with (
        serve(settings) as url,
        openai.OpenAI(base_url=f"{url}/v1", api_key="x", max_retries=0) as sdk,
    ):
        queued = sdk.videos.create(prompt="not done yet")
        assert queued.status == "queued"
        with pytest.raises(openai.NotFoundError, match="not ready"):
            sdk.videos.download_content(queued.id)
        with pytest.raises(openai.BadRequestError, match="only a completed video"):
            sdk.videos.remix(queued.id, prompt="too soon")
        with pytest.raises(openai.BadRequestError, match="only completed or failed"):
            sdk.videos.delete(queued.id)
