"""The MCP tools, driven in memory by the SDK's own client against `build_server`."""

from __future__ import annotations

import base64
import importlib.util
import io
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest
from PIL import Image

from sorakit.settings import Settings

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("mcp") is None, reason="the mcp extra is not installed"
)

if importlib.util.find_spec("mcp") is not None:
    from mcp.types import CallToolResult, ImageContent, TextContent

    from mcp import Client
    from sorakit.engine import Owner
    from sorakit.mcp import build_server

TOOLS = {
    "list_models",
    "estimate_cost",
    "get_budget",
    "create_video",
    "get_video",
    "wait_for_video",
    "cancel_video",
    "delete_video",
    "list_videos",
    "remix_video",
    "extend_video",
    "review_video",
    "last_frame",
    "edit_video",
    "make_long_video",
    "run_storyboard",
    "make_variations",
    "get_pipeline",
    "wait_for_pipeline",
    "make_image",
}


@asynccontextmanager
async def connected(
    settings: Settings, owner: Owner | None = None, **client: Any
) -> AsyncIterator[Client]:
    async with Client(build_server(settings, owner=owner), **client) as session:
        yield session


def data_of(result: CallToolResult) -> Any:
    assert not result.is_error, result.content
    first = result.content[0]
    assert isinstance(first, TextContent)
    return json.loads(first.text)


def error_of(result: CallToolResult) -> str:
    assert result.is_error, result.content
    (only,) = result.content
    assert isinstance(only, TextContent)
    return only.text


def images_of(result: CallToolResult) -> list[Image.Image]:
    shown: list[Image.Image] = []
    for block in result.content[1:]:
        assert isinstance(block, ImageContent)
        image = Image.open(io.BytesIO(base64.b64decode(block.data)))
        assert image.format == {"image/jpeg": "JPEG", "image/png": "PNG"}[block.mime_type]
        shown.append(image)
    return shown


async def cli_line(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    """The line `sorakit` itself prints on stderr for a refused command (in a thread: the CLI
    runs its own event loop)."""
    from sorakit.cli import main

    def refused() -> object:
        with pytest.raises(SystemExit) as exit_:
            main(list(argv))
        return exit_.value.code

    capsys.readouterr()
    assert await anyio.to_thread.run_sync(refused) != 0
    return capsys.readouterr().err.strip().splitlines()[-1]


async def made(client: Client, **arguments: Any) -> dict[str, Any]:
    """Create a video and wait for it to finish."""
    job = data_of(await client.call_tool("create_video", {"prompt": "a red fox", **arguments}))
    done = data_of(
        await client.call_tool("wait_for_video", {"video_id": job["id"], "timeout_seconds": 30})
    )
    assert done["status"] == "completed", done
    return dict(done)


async def test_every_tool_is_listed_with_its_arguments_documented(settings: Settings) -> None:
    async with connected(settings) as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
        templates = (await client.list_resource_templates()).resource_templates
    assert set(tools) == TOOLS
    create = tools["create_video"]
    assert set(create.input_schema["properties"]) == {
        "prompt",
        "model",
        "seconds",
        "size",
        "snap",
        "input_reference",
        "reference_images",
        "first_frame_image_id",
    }
    assert "seconds: Clip length" in (create.description or "")
    assert "timeout_seconds" in tools["wait_for_video"].input_schema["properties"]
    assert all(tool.description for tool in tools.values())
    assert {t.uri_template for t in templates} == {
        "video://{video_id}",
        "video://{video_id}/{variant}",
        "video://{video_id}/{variant}/bytes",
        "image://{image_id}",
        "image://{image_id}/content",
        "image://{image_id}/content/bytes",
    }


async def test_create_returns_at_once_then_wait_reports_progress_before_its_result(
    settings: Settings,
) -> None:
    slow = settings.model_copy(update={"simulator_render_seconds": 1.5})
    events: list[tuple[str, float]] = []

    async def progress(progress: float, total: float | None, message: str | None) -> None:
        events.append(("progress", progress))

    async with connected(slow, mode="legacy") as client:  # JSON-RPC notifications, not direct
        job = data_of(await client.call_tool("create_video", {"prompt": "a fox", "seconds": "4"}))
        assert job["status"] in ("queued", "in_progress")
        assert job["eta_seconds"] > 0 and job["estimated_cost_usd"] == pytest.approx(0.4)
        result = await client.call_tool(
            "wait_for_video",
            {"video_id": job["id"], "timeout_seconds": 30},
            progress_callback=progress,
        )
        events.append(("result", 0))
    done = data_of(result)
    assert done["status"] == "completed" and done["cost_usd"] == pytest.approx(0.4)
    assert Path(done["files"]["video"]).is_file()
    values = [value for kind, value in events if kind == "progress"]
    assert len(values) >= 2 and events[-1] == ("result", 0)
    assert values == sorted(values) and values[-1] == 100
    assert any(0 < value < 100 for value in values)  # reported while it rendered


async def test_review_and_last_frame_return_images_to_look_at(settings: Settings) -> None:
    async with connected(settings) as client:
        job = await made(client, seconds="4", size="1280x720")
        frames = await client.call_tool(
            "review_video", {"video_id": job["id"], "frames": 3, "width": 256}
        )
        sheet = await client.call_tool(
            "review_video", {"video_id": job["id"], "frames": 6, "contact_sheet": True}
        )
        last = await client.call_tool("last_frame", {"video_id": job["id"]})
        too_many = await client.call_tool("review_video", {"video_id": job["id"], "frames": 40})
    shown = images_of(frames)
    assert len(shown) == 3 and {image.size for image in shown} == {(256, 144)}
    assert data_of(frames)["frames"] == 3
    (grid,) = images_of(sheet)
    assert grid.width > 384 * 2  # three tiles across, two down
    (frame,) = images_of(last)
    assert frame.size == (1280, 720)
    assert Path(data_of(last)["path"]).is_file()
    assert error_of(too_many) == "sorakit: 'frames' must be 1 to 16, not 40."


async def test_remix_extend_and_the_ledger_tools(settings: Settings) -> None:
    async with connected(settings) as client:
        source = await made(client, seconds="4")
        remix = data_of(
            await client.call_tool("remix_video", {"video_id": source["id"], "prompt": "at night"})
        )
        extension = data_of(
            await client.call_tool(
                "extend_video", {"video_id": source["id"], "prompt": "it runs", "seconds": "4"}
            )
        )
        for started in (remix, extension):
            assert started["source_id"] == source["id"]
            waited = {"video_id": started["id"], "timeout_seconds": 30}
            assert data_of(await client.call_tool("wait_for_video", waited))["status"] == (
                "completed"
            )
        extended = data_of(await client.call_tool("get_video", {"video_id": extension["id"]}))
        listed = data_of(await client.call_tool("list_videos", {"limit": 10}))
        resource = await client.read_resource(f"video://{source['id']}")
        budget = data_of(await client.call_tool("get_budget", {}))
        models = data_of(await client.call_tool("list_models", {}))
        estimate = data_of(
            await client.call_tool("estimate_cost", {"model": "sora-2", "seconds": "8"})
        )
        pending = data_of(await client.call_tool("create_video", {"prompt": "a slow one"}))
        cancelled = data_of(await client.call_tool("cancel_video", {"video_id": pending["id"]}))
        deleted = data_of(await client.call_tool("delete_video", {"video_id": remix["id"]}))
        gone = await client.call_tool("get_video", {"video_id": remix["id"]})
    assert extended["seconds"] == "8" and extended["kind"] == "extend"
    assert {video["id"] for video in listed["videos"]} == {
        source["id"],
        remix["id"],
        extension["id"],
    }
    assert json.loads(resource.contents[0].text)["id"] == source["id"]  # type: ignore[union-attr]
    assert budget["committed_usd"] == pytest.approx(0.4 * 3)
    sora = next(model for model in models["models"] if model["name"] == "sora-2")
    assert sora["configured"] is True and sora["capabilities"]["extension"] is True
    assert estimate["estimated_cost_usd"] == pytest.approx(0.8)
    assert cancelled["status"] == "cancelled"
    assert deleted == {"id": remix["id"], "deleted": True}
    assert error_of(gone) == f"sorakit: No video found with id '{remix['id']}'."


async def test_bad_arguments_are_refused_with_the_clis_message(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    async with connected(settings) as client:
        seven = await client.call_tool("create_video", {"prompt": "a fox", "seconds": "7"})
        unknown = await client.call_tool("create_video", {"prompt": "a fox", "model": "sora-9"})
        no_prompt = await client.call_tool("create_video", {"seconds": "4"})
        listed = data_of(await client.call_tool("list_videos", {}))
    assert error_of(seven) == await cli_line(capsys, "generate", "a fox", "--seconds", "7", "-q")
    assert "got '7'" in error_of(seven)
    assert error_of(unknown) == await cli_line(
        capsys, "generate", "a fox", "--model", "sora-9", "-q"
    )
    assert error_of(no_prompt) == await cli_line(capsys, "generate", "", "-q")
    assert listed["videos"] == []  # nothing refused was recorded


async def test_a_wait_that_times_out_leaves_the_job_to_finish_later(settings: Settings) -> None:
    slow = settings.model_copy(update={"simulator_render_seconds": 2.0})
    async with connected(slow) as client:
        job = data_of(await client.call_tool("create_video", {"prompt": "a fox", "seconds": "4"}))
        waited = {"video_id": job["id"], "timeout_seconds": 0.3}
        early = data_of(await client.call_tool("wait_for_video", waited))
        assert early["status"] in ("queued", "in_progress")
    async with connected(slow) as client:  # a new session, as after a client gave up
        waited = {"video_id": job["id"], "timeout_seconds": 30}
        late = data_of(await client.call_tool("wait_for_video", waited))
    assert late["status"] == "completed" and Path(late["files"]["video"]).is_file()


async def test_a_moderation_block_keeps_the_providers_reason(settings: Settings) -> None:
    blocked = settings.model_copy(update={"simulator_faults": "moderation=1"})
    async with connected(blocked) as client:
        job = data_of(await client.call_tool("create_video", {"prompt": "a fox", "seconds": "4"}))
        result = await client.call_tool(
            "wait_for_video", {"video_id": job["id"], "timeout_seconds": 30}
        )
        after = data_of(await client.call_tool("get_video", {"video_id": job["id"]}))
    line = error_of(result)
    assert after["status"] == "failed" and after["error"]["code"] == "moderation_blocked"
    assert line.startswith("sorakit: ") and after["error"]["message"] in line


async def test_another_keys_videos_are_invisible(settings: Settings) -> None:
    async with connected(settings, owner=Owner("key_a")) as alice:
        job = data_of(await alice.call_tool("create_video", {"prompt": "a fox", "seconds": "4"}))
        assert data_of(await alice.call_tool("get_video", {"video_id": job["id"]}))["id"]
    async with connected(settings, owner=Owner("key_b")) as bob:
        seen = await bob.call_tool("get_video", {"video_id": job["id"]})
        listed = data_of(await bob.call_tool("list_videos", {}))
        remix = await bob.call_tool("remix_video", {"video_id": job["id"], "prompt": "mine"})
    assert error_of(seen) == f"sorakit: No video found with id '{job['id']}'."
    assert error_of(remix) == error_of(seen)
    assert listed["videos"] == []


async def test_a_wait_the_client_gives_up_on_leaves_the_job_resumable(settings: Settings) -> None:
    from mcp.shared.exceptions import MCPError

    slow = settings.model_copy(update={"simulator_render_seconds": 2.0})
    async with connected(slow, mode="legacy") as client:
        job = data_of(await client.call_tool("create_video", {"prompt": "a fox", "seconds": "4"}))
        waited = {"video_id": job["id"], "timeout_seconds": 60}
        with pytest.raises(MCPError, match="timed out"):
            await client.call_tool("wait_for_video", waited, read_timeout_seconds=0.3)
        late = data_of(await client.call_tool("wait_for_video", waited))
    assert late["status"] == "completed"
