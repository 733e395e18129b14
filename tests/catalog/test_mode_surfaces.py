"""Storyboards and the HTTP create check sizes and seconds against the request's own mode."""

from __future__ import annotations

import asyncio
import base64
import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import av
import httpx
from PIL import Image

from sorakit.settings import get_settings
from tests.catalog.test_prices_and_modes import runway_behind_proxy
from tests.cli.test_cli import sorakit


def _png(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (200, 120, 30)).save(buffer, "PNG")
    return buffer.getvalue()


async def test_a_storyboard_shot_with_a_first_frame_gets_the_image_sizes(
    isolated_env: Path, tmp_path: Path
) -> None:
    # Gen-4.5 renders 960x960 only from a first-frame image; its text-to-video sizes are 16:9.
    (tmp_path / "square.png").write_bytes(_png(960, 960))
    board = tmp_path / "board.yaml"
    board.write_text(
        "model: runway/gen4.5\n"
        "scenes:\n"
        "  - {prompt: a cat on a piano, seconds: 2, size: 960x960, reference: square.png}\n"
    )
    async with runway_behind_proxy(tmp_path) as (api, env):
        result = await asyncio.to_thread(
            sorakit, "storyboard", str(board), "-q", "--out", str(tmp_path / "out"),
            home=isolated_env, env=env,
        )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "960x960 ->" not in " ".join(result.stderr.split())  # nothing was snapped away
    [body] = [call.body for call in api.calls("POST", "/v1/image_to_video")]
    assert body["ratio"] == "960:960"
    with av.open(result.stdout.strip().splitlines()[-1]) as container:
        stream = container.streams.video[0]
        assert (stream.width, stream.height) == (960, 960)


def test_a_json_number_for_seconds_lists_the_seconds_of_the_requests_mode(
    isolated_env: Path, serve: Callable[..., Any]
) -> None:
    subject = "data:image/png;base64," + base64.b64encode(_png(64, 64)).decode()
    body = {
        "model": "veo-3.1",
        "prompt": "x",
        "seconds": 4,
        "reference_images": [{"image_url": subject}],
    }
    with serve(get_settings(home=isolated_env)) as url:
        with_subjects = httpx.post(f"{url}/v1/videos", json=body, timeout=30)
        text_only = httpx.post(
            f"{url}/v1/videos", json={**body, "reference_images": None}, timeout=30
        )
    assert with_subjects.status_code == 400, with_subjects.text
    error = with_subjects.json()["error"]
    assert error["param"] == "seconds"
    assert "expected '8', but got" in error["message"]  # Veo takes 8 s with reference images
    assert text_only.status_code == 400, text_only.text
    assert "expected one of '4', '6', or '8'" in text_only.json()["error"]["message"]
