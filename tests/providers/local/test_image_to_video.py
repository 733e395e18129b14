"""Image-to-video with a tiny LTX-Video folder: the reference goes in as the first frame."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from sorakit.engine import Engine
from sorakit.ledger import JobStatus
from sorakit.media import probe
from sorakit.providers.local._folders import read_model
from sorakit.providers.local._render import PipelineHost, RenderPlan, call_arguments
from sorakit.settings import get_settings
from tests.providers.local.conftest import needs_extra


@pytest.fixture(scope="module")
def tiny_ltx(tmp_path_factory: pytest.TempPathFactory) -> Path:
    needs_extra()
    from tests.providers.local.tiny import save_tiny_ltx

    folder = save_tiny_ltx(tmp_path_factory.mktemp("models") / "tiny-ltx")
    overrides = {"name": "local-tiny-ltx", "sizes": ["32x32"], "fps": 8, "steps": 2}
    (folder / "sorakit-model.json").write_text(json.dumps(overrides))
    return folder


async def test_a_reference_renders_through_the_image_pipeline(
    tiny_ltx: Path, settings: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SORAKIT_LOCAL_MODELS", str(tiny_ltx))
    monkeypatch.setenv("SORAKIT_LOCAL_DEVICE", "cpu")
    red = Image.new("RGB", (32, 32), (220, 30, 30))
    async with await Engine.open(get_settings()) as engine:
        caps = engine.catalog.resolve("local-tiny-ltx").capabilities
        assert caps.text_to_video and caps.image_reference
        job = await engine.create(
            "a red ball rolls", model="local-tiny-ltx", seconds=1, size="32x32", reference=red
        )
        done = await engine.wait(job.id)
    assert done.status is JobStatus.COMPLETED, done.error_message
    info = probe(Path(done.video_path or ""))
    assert info.video is not None and info.video.frames == 9  # 8k+1 at 8 fps
    record = json.loads(
        (get_settings().home / "local" / "jobs" / f"{done.remote_id}.json").read_text()
    )
    assert record["image"] is True and record["model"] == "local-tiny-ltx"


def test_the_image_twin_gets_the_reference_as_its_first_frame(tiny_ltx: Path) -> None:
    host = PipelineHost(get_settings(local_device="cpu"))
    model = read_model(tiny_ltx)
    pipe = host.pipeline(model, with_image=True)
    image = Image.new("RGB", (32, 32), (10, 200, 10))
    buffer = Path(tiny_ltx / "ref.png")
    image.save(buffer)
    plan = RenderPlan(model, "a ball", 32, 32, 9, 2, 3.0, seed=7, image=buffer.read_bytes())
    arguments = call_arguments(pipe, plan, host.torch)
    assert type(pipe).__name__ == "LTXImageToVideoPipeline"
    assert arguments["image"].size == (32, 32) and arguments["image"].getpixel((0, 0)) == (
        10,
        200,
        10,
    )
    assert arguments["frame_rate"] == 8 and "last_image" not in arguments
