"""`sorakit serve` with a local model, driven by the official openai SDK as any app would."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path

import openai
import pytest

from sorakit.media import probe
from sorakit.settings import Settings

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("tiny_wan_folder")]


def test_the_openai_sdk_gets_a_local_render_through_v1_videos(
    local_settings: Settings,
    serve: Callable[[Settings], AbstractContextManager[str]],
    tmp_path: Path,
) -> None:
    with serve(local_settings) as url, openai.OpenAI(base_url=f"{url}/v1", api_key="k") as sdk:
        listed = {model.id for model in sdk.models.list()}
        video = sdk.videos.create_and_poll(
            model="local-tiny-wan",
            prompt="a red fox in the snow",
            seconds="2",  # type: ignore[arg-type]
            size="32x32",  # type: ignore[arg-type]
            poll_interval_ms=100,
        )
        content = sdk.videos.download_content(video.id).read()
    assert "local-tiny-wan" in listed
    assert video.status == "completed" and video.model == "local-tiny-wan", video.error
    saved = tmp_path / "fox.mp4"
    saved.write_bytes(content)
    info = probe(saved)
    assert info.video is not None and info.video.frames == 17  # 2 s at 8 fps: 4k+1
    assert (info.video.width, info.video.height) == (32, 32)
