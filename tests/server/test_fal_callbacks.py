"""fal's webhook, end to end: `sorakit serve` with a public URL hears of a finished job at once.

The fake fal queue renders on a fast clock and POSTs its webhook over real HTTP to the signed
callback URL the server handed fal at submit; the engine expects an hour-long render, so without
the callback its first status call would be minutes away.
"""

from __future__ import annotations

import socket
import time

import httpx
import openai
import uvicorn
from pydantic import SecretStr

from sorakit.providers.base import SubmitRequest
from sorakit.providers.fal import FalProvider
from sorakit.server import create_app
from sorakit.settings import Settings
from tests.conftest import ThreadedServer, make_mp4
from tests.providers.fal_fake import QUEUE, FakeFalQueue


class SlowExpectations(FalProvider):
    """Expects an hour: only a callback can make the engine notice completion quickly."""

    def expected_render_seconds(self, request: SubmitRequest) -> float | None:
        return 3600.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def test_a_fal_webhook_completes_the_job_without_waiting_for_the_poll(settings: Settings) -> None:
    fake = FakeFalQueue(make_mp4(seconds=1.0, size=(1280, 720)))
    fake.speed, fake.queue_seconds, fake.render_seconds = 40.0, 2.0, 8.0  # done in 0.25 s
    port = free_port()
    settings = settings.model_copy(
        update={
            "fal_key": SecretStr(fake.key),
            "public_url": f"http://127.0.0.1:{port}",
            "aliases": {"sora-2": "fal/kling-3.0-pro"},
        }
    )
    provider = SlowExpectations(key=fake.key, queue_url=QUEUE, transport=fake.transport())
    app = create_app(settings, providers={"fal": provider})
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    try:
        with ThreadedServer(config).running() as url:
            client = openai.OpenAI(base_url=f"{url}/v1", api_key="anything", max_retries=0)
            video = client.videos.create(model="sora-2", prompt="a heron lands on a post")
            (submit,) = fake.calls("submit")
            hook = httpx.URL(submit.url).params["fal_webhook"]
            assert hook.startswith(f"http://127.0.0.1:{port}/callbacks/{video.id}?token=")
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                video = client.videos.retrieve(video.id)
                if video.status in ("completed", "failed"):
                    break
                time.sleep(0.05)
            assert video.status == "completed", video
            deadline = time.monotonic() + 5  # the fake logs the 204 once its POST returns
            while not fake.webhook_log and time.monotonic() < deadline:
                time.sleep(0.01)
            assert [status for _, status in fake.webhook_log] == [204]
            assert client.videos.download_content(video.id).read()[4:8] == b"ftyp"
    finally:
        fake.close()
