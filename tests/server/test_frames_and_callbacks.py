"""`/v1/videos` takes sorakit's `last_frame` and `reference_images`; provider callbacks wake jobs."""

from __future__ import annotations

import base64
import contextlib
import time
from collections.abc import Iterator

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from sorakit.catalog import Catalog
from sorakit.server import create_app
from sorakit.settings import Settings
from tests.conftest import FakeProvider, ThreadedServer
from tests.engine.test_frames import FRAMES, PLAIN, png


@contextlib.contextmanager
def running(settings: Settings, fake: FakeProvider) -> Iterator[tuple[str, FastAPI]]:
    app = create_app(settings, providers={"fake": fake})
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on")
    with ThreadedServer(config).running() as url:
        app.state.engine.catalog = Catalog([FRAMES, PLAIN])
        yield url, app


def wait_for(client: httpx.Client, video_id: str, status: str) -> dict[str, object]:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        video: dict[str, object] = client.get(f"/v1/videos/{video_id}").json()
        if video["status"] == status:
            return video
        time.sleep(0.05)
    raise AssertionError(f"{video_id} never became {status}")


def test_multipart_and_json_carry_last_frame_and_reference_images(settings: Settings) -> None:
    fake = FakeProvider(steps=1)
    with running(settings, fake) as (url, _), httpx.Client(base_url=url) as client:
        answer = client.post(
            "/v1/videos",
            data={"prompt": "red to blue", "model": "frames-1", "size": "1280x720"},
            files=[
                ("input_reference", ("a.png", png((1280, 720), "red"), "image/png")),
                ("last_frame", ("b.png", png((1280, 720), "blue"), "image/png")),
                ("reference_images[]", ("c.png", png((64, 64), "green"), "image/png")),
                ("reference_images[]", ("d.png", png((32, 48), "white"), "image/png")),
            ],
        )
        assert answer.status_code == 200, answer.text
        wait_for(client, answer.json()["id"], "completed")
        blue = base64.b64encode(png((1280, 720), "blue")).decode()
        answer = client.post(
            "/v1/videos",
            json={
                "prompt": "json too",
                "model": "frames-1",
                "last_frame": {"image_url": f"data:image/png;base64,{blue}"},
                "reference_images": [{"image_url": f"data:image/png;base64,{blue}"}],
            },
        )
        assert answer.status_code == 200, answer.text
        wait_for(client, answer.json()["id"], "completed")

        refused = client.post(
            "/v1/videos",
            json={
                "prompt": "no",
                "model": "plain-1",
                "last_frame": {"image_url": f"data:image/png;base64,{blue}"},
            },
        )
        assert refused.status_code == 400
        assert refused.json()["error"]["param"] == "last_frame"
        assert "does not take a last frame" in refused.json()["error"]["message"]
        bad = client.post(
            "/v1/videos",
            json={"prompt": "no", "model": "frames-1", "reference_images": [{"url": "x"}]},
        )
        assert bad.status_code == 400 and bad.json()["error"]["param"] == "reference_images[0]"
    first, second = fake.requests
    assert first.last_frame is not None and first.reference is not None
    assert [(i.width, i.height) for i in first.reference_images] == [(64, 64), (32, 48)]
    assert second.reference is None and second.last_frame is not None
    assert len(second.reference_images) == 1


@pytest.mark.serial  # the callback must beat a status poll in wall-clock time
def test_a_callback_wakes_the_job_and_a_wrong_token_learns_nothing(settings: Settings) -> None:
    settings = settings.model_copy(update={"public_url": "https://gw.example.com"})
    fake = FakeProvider(steps=1)
    fake.expected_render_seconds = lambda request: 3600.0  # type: ignore[method-assign]
    with running(settings, fake) as (url, _), httpx.Client(base_url=url) as client:
        video_id = client.post("/v1/videos", json={"prompt": "hi", "model": "frames-1"}).json()[
            "id"
        ]
        deadline = time.monotonic() + 10
        while not fake.requests and time.monotonic() < deadline:
            time.sleep(0.01)
        callback = fake.requests[0].callback_url
        assert callback is not None and callback.startswith("https://gw.example.com/callbacks/")
        path = callback.removeprefix("https://gw.example.com")

        forged = client.post(f"/callbacks/{video_id}?token=abc", json={"status": "OK"})
        assert forged.status_code == 404
        assert forged.json()["error"]["type"] == "invalid_request_error"
        assert client.get(f"/v1/videos/{video_id}").json()["status"] != "completed"

        # The first status call of an hour-long render is minutes away; the callback brings it now.
        assert client.post(path, json={"request_id": "r", "status": "OK"}).status_code == 204
        wait_for(client, video_id, "completed")
        assert client.post(path, json={}).status_code == 204  # a redelivery is harmless
