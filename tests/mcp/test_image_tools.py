"""`make_image`, the `image://` resources and animating an image, in memory (the local ledger)."""

from __future__ import annotations

import base64
import importlib.util
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest
from PIL import Image, ImageStat

from sorakit.engine import Engine
from sorakit.settings import Settings
from tests.images.conftest import decode, image_bytes, left_half_mask
from tests.images.test_engine_images import reprice

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("mcp") is None, reason="the mcp extra is not installed"
)

if importlib.util.find_spec("mcp") is not None:
    from mcp.shared.exceptions import MCPError

    from mcp import Client
    from sorakit.engine import Owner
    from sorakit.mcp import build_server
    from tests.mcp.test_tools import cli_line, data_of, error_of, images_of


@pytest.fixture
async def engine(settings: Settings) -> AsyncIterator[Engine]:
    fast = settings.model_copy(update={"simulator_render_seconds": 0.2})
    async with await Engine.open(fast) as opened:
        reprice(opened, 0.02)  # sim-image is free; a price makes costs and budgets show
        yield opened


@asynccontextmanager
async def connected(engine: Engine, owner: Owner | None = None) -> AsyncIterator[Client]:
    async with Client(build_server(engine.settings, owner=owner, engine=engine)) as client:
        yield client


def opened(path: str) -> Image.Image:
    """An image file, decoded (and closed)."""
    return decode(Path(path).read_bytes())


def data_url(data: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(data).decode()


async def made_image(client: Client, **arguments: Any) -> dict[str, Any]:
    result = await client.call_tool("make_image", {"prompt": "a red lighthouse", **arguments})
    return dict(data_of(result))


async def test_make_image_answers_with_the_images_and_records_priced_image_jobs(
    engine: Engine,
) -> None:
    async with connected(engine) as client:
        result = await client.call_tool(
            "make_image", {"prompt": "a red lighthouse", "n": 2, "size": "1536x1024"}
        )
        made = data_of(result)
        first = made["images"][0]["id"]
        job_json = json.loads((await client.read_resource(f"image://{first}")).contents[0].text)  # type: ignore[union-attr]
        where = json.loads(
            (await client.read_resource(f"image://{first}/content")).contents[0].text  # type: ignore[union-attr]
        )
        blob = (await client.read_resource(f"image://{first}/content/bytes")).contents[0]
    previews = images_of(result)
    assert len(previews) == 2 and {image.size for image in previews} == {(512, 341)}
    assert made["cost_usd"] == pytest.approx(0.04)
    for image in made["images"]:
        assert image["id"].startswith("img_") and image["status"] == "completed"
        assert image["cost_usd"] == pytest.approx(0.02) and image["size"] == "1536x1024"
        saved = opened(image["files"]["image"])
        assert (saved.format, saved.size) == ("PNG", (1536, 1024))
    jobs, _ = await engine.ledger.list_jobs()
    assert sorted((job.kind, job.cost) for job in jobs) == [("image", 0.02), ("image", 0.02)]
    assert job_json["id"] == first and job_json["kind"] == "image"
    assert where["path"] == made["images"][0]["files"]["image"]
    assert where["mime_type"] == "image/png"
    decoded = decode(base64.b64decode(blob.blob))  # type: ignore[union-attr]
    assert decoded.size == (1536, 1024)


async def test_an_edit_with_a_mask_from_data_urls_and_a_local_path(
    engine: Engine, tmp_path: Path
) -> None:
    still = tmp_path / "still.png"
    still.write_bytes(image_bytes((640, 480), "navy"))
    async with connected(engine) as client:
        from_url = await made_image(
            client,
            model="sim-image",
            size="512x512",
            output_format="webp",
            images=[data_url(image_bytes((640, 480)))],
            mask=data_url(left_half_mask((640, 480))),
        )
        from_path = await made_image(client, model="sim-image", images=[str(still)])
        missing = await client.call_tool(
            "make_image", {"prompt": "x", "images": [str(tmp_path / "none.png")]}
        )
        small_mask = await client.call_tool(
            "make_image",
            {
                "prompt": "x",
                "images": [data_url(image_bytes((640, 480)))],
                "mask": data_url(left_half_mask((320, 240))),
            },
        )
    (edited,) = from_url["images"]
    assert opened(edited["files"]["image"]).format == "WEBP"
    assert edited["output_format"] == "webp"
    assert from_path["images"][0]["status"] == "completed"
    assert error_of(missing).startswith("sorakit: 'images[0]' names no image file")
    assert error_of(small_mask) == (
        "sorakit: The mask is 320x240; it must be the size of the first image, 640x480."
    )


async def test_sizes_models_and_counts_are_refused_as_the_cli_refuses_them(
    engine: Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    async with connected(engine) as client:
        odd = await client.call_tool(
            "make_image", {"prompt": "a cat", "model": "sim-image", "size": "999x999"}
        )
        auto = await made_image(client, size="auto")
        video_model = await client.call_tool("make_image", {"prompt": "a cat", "model": "sora-2"})
        image_model = await client.call_tool(
            "create_video", {"prompt": "a cat", "model": "gpt-image-1"}
        )
        eleven = await client.call_tool("make_image", {"prompt": "a cat", "n": 11})
    cli_home = ["--home", str(engine.settings.home)]
    assert error_of(odd) == await cli_line(
        capsys, "image", "a cat", "--model", "sim-image", "--size", "999x999", *cli_home
    )
    assert "999x999" in error_of(odd)
    assert auto["images"][0]["size"] == "1024x1024"  # the model's default
    assert error_of(video_model) == (
        "sorakit: sora-2 makes videos: use create_video (list_models shows which models make what)."
    )
    assert error_of(image_model).startswith("sorakit: gpt-image-1 makes images: use make_image")
    assert error_of(eleven) == await cli_line(capsys, "image", "a cat", "-n", "11", *cli_home)


async def test_a_budget_refuses_images_with_nothing_recorded(engine: Engine) -> None:
    key, _ = await engine.ledger.create_key("tenant", budget_usd=0.03)
    async with connected(engine, Owner(key.id, key.budget_usd)) as client:
        refused = await client.call_tool("make_image", {"prompt": "a harbour", "n": 2})
        budget = data_of(await client.call_tool("get_budget", {}))
        one = await made_image(client, n=1)
    assert error_of(refused).startswith("sorakit: ") and "budget" in error_of(refused).lower()
    assert budget["committed_usd"] == 0
    assert one["images"][0]["cost_usd"] == pytest.approx(0.02)
    jobs, _ = await engine.ledger.list_jobs()
    assert [(job.kind, job.owner) for job in jobs] == [("image", key.id)]


async def test_an_image_animated_by_id_and_kept_apart_from_videos(engine: Engine) -> None:
    async with connected(engine) as client:
        image = (await made_image(client, size="1536x1024"))["images"][0]
        video = data_of(
            await client.call_tool(
                "create_video",
                {"prompt": "it moves", "seconds": "4", "first_frame_image_id": image["id"]},
            )
        )
        waited = {"video_id": video["id"], "timeout_seconds": 30}
        done = data_of(await client.call_tool("wait_for_video", waited))
        listed = data_of(await client.call_tool("list_videos", {}))
        as_video = [
            await client.call_tool(tool, {"video_id": image["id"], **extra})
            for tool, extra in (
                ("get_video", {}),
                ("wait_for_video", {"timeout_seconds": 1}),
                ("remix_video", {"prompt": "again"}),
            )
        ]
        both = await client.call_tool(
            "create_video",
            {
                "prompt": "x",
                "first_frame_image_id": image["id"],
                "input_reference": data_url(image_bytes()),
            },
        )
        a_video_id = await client.call_tool(
            "create_video", {"prompt": "x", "first_frame_image_id": video["id"]}
        )
    assert done["status"] == "completed"
    job = await engine.get(video["id"])
    first_frame = opened(job.assets["reference"].path).convert("RGB")
    picture = opened(image["files"]["image"]).convert("RGB")
    means = [ImageStat.Stat(each).mean for each in (first_frame, picture)]
    assert all(abs(a - b) < 12 for a, b in zip(*means, strict=True))  # the same picture
    assert [listed_video["id"] for listed_video in listed["videos"]] == [video["id"]]
    for result in as_video:
        assert error_of(result).startswith(f"sorakit: {image['id']} is an image, not a video")
    assert error_of(both) == "sorakit: Give input_reference or first_frame_image_id, not both."
    assert error_of(a_video_id) == f"sorakit: No image found with id '{video['id']}'."


async def test_another_keys_images_are_invisible(engine: Engine) -> None:
    async with connected(engine, Owner("key_a")) as alice:
        image = (await made_image(alice))["images"][0]
        assert (
            json.loads(
                (await alice.read_resource(f"image://{image['id']}")).contents[0].text  # type: ignore[union-attr]
            )["id"]
            == image["id"]
        )
    async with connected(engine, Owner("key_b")) as bob:
        with pytest.raises(MCPError, match="No image found"):
            await bob.read_resource(f"image://{image['id']}")
        with pytest.raises(MCPError, match="No image found"):
            await bob.read_resource(f"image://{image['id']}/content/bytes")
        animated = await bob.call_tool(
            "create_video", {"prompt": "mine now", "first_frame_image_id": image["id"]}
        )
    assert error_of(animated) == f"sorakit: No image found with id '{image['id']}'."


async def test_a_pipelines_reference_image_lives_in_its_own_folder(engine: Engine) -> None:
    async with connected(engine) as client:
        started = data_of(
            await client.call_tool(
                "make_variations",
                {
                    "prompt": "a kite",
                    "count": 1,
                    "seconds": 4,
                    "input_reference": data_url(image_bytes((1280, 720))),
                },
            )
        )
        waited = {"pipeline_id": started["id"], "timeout_seconds": 60}
        done = data_of(await client.call_tool("wait_for_pipeline", waited))
        refused = await client.call_tool(
            "make_variations",
            {"prompt": "a kite", "count": 99, "input_reference": data_url(image_bytes())},
        )
    pipeline = await engine.ledger.get_pipeline(started["id"])
    reference = Path(pipeline.spec["request"]["reference"])
    assert done["status"] == "completed"
    assert reference.parent == Path(pipeline.spec["folder"]) and reference.is_file()
    assert error_of(refused).startswith("sorakit: the number of takes must be 1 to")
    staging = engine.settings.home / "mcp" / "references"
    assert not staging.exists() or not any(staging.iterdir())  # nothing left behind


async def test_images_not_done_in_time_go_on_and_are_found_later(settings: Settings) -> None:
    slow = settings.model_copy(update={"simulator_render_seconds": 2.0})
    async with await Engine.open(slow) as engine, connected(engine) as client:
        early = data_of(
            await client.call_tool("make_image", {"prompt": "slow", "timeout_seconds": 0.2})
        )
        (image,) = early["images"]
        for _ in range(200):  # the tracker finishes it in the background
            late = json.loads(
                (await client.read_resource(f"image://{image['id']}")).contents[0].text
            )  # type: ignore[union-attr]
            if late["status"] == "completed":
                break
            await anyio.sleep(0.1)
    assert image["status"] in ("queued", "in_progress") and "files" not in image
    assert "image://{id}" in early["note"]
    assert late["status"] == "completed" and Path(late["files"]["image"]).is_file()
