"""The tools that make videos from others and the pipeline tools, in memory (the local ledger)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from sorakit.settings import Settings

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("mcp") is None, reason="the mcp extra is not installed"
)

if importlib.util.find_spec("mcp") is not None:
    from mcp.types import TextContent

    from mcp import Client
    from sorakit.mcp import build_server
    from tests.mcp.test_tools import data_of, error_of, made


async def wait_pipeline(client: Client, pipeline_id: str) -> dict[str, Any]:
    waited = {"pipeline_id": pipeline_id, "timeout_seconds": 60}
    return dict(data_of(await client.call_tool("wait_for_pipeline", waited)))


async def test_edit_and_a_first_frame_from_a_local_file(settings: Settings, tmp_path: Path) -> None:
    still = tmp_path / "still.png"
    Image.new("RGB", (1280, 720), (200, 30, 30)).save(still)
    async with Client(build_server(settings)) as client:
        framed = await made(client, seconds="4", size="1280x720", input_reference=str(still))
        edit = data_of(
            await client.call_tool("edit_video", {"video_id": framed["id"], "prompt": "in snow"})
        )
        waited = {"video_id": edit["id"], "timeout_seconds": 30}
        edited = data_of(await client.call_tool("wait_for_video", waited))
        missing = await client.call_tool(
            "create_video", {"prompt": "a fox", "input_reference": str(tmp_path / "none.png")}
        )
    assert Path(framed["files"]["video"]).is_file()
    assert edit["kind"] == "edit" and edit["source_id"] == framed["id"]
    assert edited["status"] == "completed"
    assert error_of(missing).startswith("sorakit: 'input_reference' names no image file")


async def test_long_video_storyboard_and_variations_start_at_once_then_finish(
    settings: Settings,
) -> None:
    async with Client(build_server(settings)) as client:
        long = data_of(
            await client.call_tool(
                "make_long_video", {"prompt": "a heron crosses a lake", "seconds": 8}
            )
        )
        board = data_of(
            await client.call_tool(
                "run_storyboard", {"storyboard": "[4s] a heron lands. [4s] it takes off."}
            )
        )
        takes = data_of(
            await client.call_tool(
                "make_variations", {"prompt": "a red kite", "count": 2, "seconds": 4}
            )
        )
        for started in (long, board, takes):
            assert started["status"] == "running" and started["eta_seconds"] > 0
        assert long["estimated_cost_usd"] == pytest.approx(0.8)
        done = {p["id"]: await wait_pipeline(client, p["id"]) for p in (long, board, takes)}
        looked = data_of(await client.call_tool("get_pipeline", {"pipeline_id": long["id"]}))
        unknown = await client.call_tool("get_pipeline", {"pipeline_id": "long_nope"})
        too_many = await client.call_tool("make_variations", {"prompt": "a kite", "count": 40})
    for pipeline in done.values():
        assert pipeline["status"] == "completed", pipeline
        assert all(step["status"] == "completed" for step in pipeline["steps"])
    assert Path(done[long["id"]]["output"]).is_file()
    assert Path(done[board["id"]]["output"]).is_file()
    assert len(done[takes["id"]]["steps"]) == 2
    assert looked["kind"] == "long" and looked["output"] == done[long["id"]]["output"]
    assert error_of(unknown) == "sorakit: No pipeline found with id 'long_nope'."
    assert "takes must be 1 to 16" in error_of(too_many)


async def test_resources_say_where_the_files_are_and_give_bytes_only_when_asked(
    settings: Settings,
) -> None:
    async with Client(build_server(settings)) as client:
        job = await made(client, seconds="4")
        where = {
            variant: json.loads(
                (await client.read_resource(f"video://{job['id']}/{variant}")).contents[0].text  # type: ignore[union-attr]
            )
            for variant in ("content", "thumbnail", "spritesheet")
        }
        raw = await client.read_resource(f"video://{job['id']}/thumbnail/bytes")
    assert where["content"]["path"] == job["files"]["video"]
    assert where["content"]["mime_type"] == "video/mp4"
    assert where["content"]["bytes"] == Path(job["files"]["video"]).stat().st_size
    assert where["thumbnail"]["mime_type"] == "image/webp"
    assert Path(where["spritesheet"]["path"]).is_file()
    assert not isinstance(raw.contents[0], TextContent)
    blob = raw.contents[0].blob  # type: ignore[union-attr]
    assert len(blob) > 0
