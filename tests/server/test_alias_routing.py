"""An old Sora app, unchanged, on a `sorakit serve` whose `sora-2` alias routes to a live provider."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path

import av
import httpx
import openai
from pydantic import SecretStr

from sorakit.settings import get_settings
from tests.providers.runway_fake import FakeRunwayAPI
from tests.providers.test_runway import BASE_URL, QuickRunway


def test_sora_2_routed_to_runway_veo(
    tmp_path: Path, serve: Callable[..., AbstractContextManager[str]]
) -> None:
    fake = FakeRunwayAPI(workdir=tmp_path / "fake")
    fake.speed, fake.queue_seconds, fake.render_seconds = 40.0, 2.0, 8.0
    provider = QuickRunway(
        api_secret=fake.api_secret, base_url=BASE_URL, transport=fake.transport()
    )
    settings = get_settings(
        home=tmp_path / "home",
        runway_api_secret=SecretStr(fake.api_secret),
        aliases={"sora-2": "runway/veo3.1_fast"},
    )
    with serve(settings, providers={"runway": provider}) as url:
        created = httpx.post(f"{url}/v1/videos", json={"prompt": "a cat", "seconds": "12"})
        assert created.status_code == 200, created.text
        assert json.loads(created.headers["x-sorakit-changes"]) == [
            "model sora-2 -> runway/veo3.1_fast (alias)",
            "seconds 12 -> 8 (runway/veo3.1_fast allows '4', '6', or '8')",
        ]
        with openai.OpenAI(base_url=f"{url}/v1", api_key="old-app-key") as sdk:
            video = sdk.videos.poll(created.json()["id"])
            assert (video.status, video.model, video.seconds, video.size) == (
                "completed",
                "sora-2",
                "8",
                "720x1280",
            )
            data = sdk.videos.download_content(video.id).read()
            again = sdk.videos.create_and_poll(prompt="a dog", size="1280x720")
            assert again.status == "completed"
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.video[0]
        assert (stream.width, stream.height) == (720, 1280)
    posted = [r for r in fake.requests if r.method == "POST"]
    assert len(posted) == 2 and all(r.body["model"] == "veo3.1_fast" for r in posted)
