"""Images over `/mcp` on a real `sorakit serve`: `make_image` under a tenant key (its budget,
its allow-list, its own images only), animating one by id, and signed links for every file."""

from __future__ import annotations

import contextlib
import importlib.util
import json
import sqlite3
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from sorakit.settings import Settings
from tests.images.conftest import decode

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("mcp") is None, reason="the mcp extra is not installed"
)

if importlib.util.find_spec("mcp") is not None:
    from mcp import Client
    from tests.mcp.test_http import make_keys, over_http
    from tests.mcp.test_tools import data_of, error_of, images_of

Serve = Callable[..., contextlib.AbstractContextManager[str]]


@pytest.fixture
def fast(settings: Settings) -> Settings:
    return settings.model_copy(update={"simulator_render_seconds": 0.3})


async def read_json(client: Client, uri: str) -> dict[str, Any]:
    return dict(json.loads((await client.read_resource(uri)).contents[0].text))  # type: ignore[union-attr]


def image_rows(settings: Settings) -> list[tuple[str, float | None, str | None]]:
    with sqlite3.connect(settings.home / "sorakit.db") as db:
        return db.execute("select kind, cost, owner from jobs where kind = 'image'").fetchall()


async def test_a_key_makes_images_animates_one_and_downloads_through_links(
    fast: Settings, serve: Serve
) -> None:
    admin = await make_keys(fast, "admin", admin=True)
    alice = await make_keys(fast, "alice", budget_usd=0.5)
    with serve(fast) as base:
        async with httpx.AsyncClient() as http:
            priced = await http.put(
                f"{base}/admin/prices/sim-image",
                json={"usd_per_image": 0.02},
                headers={"Authorization": f"Bearer {admin['admin']}"},
            )
            assert priced.status_code == 200, priced.text
        async with over_http(base, alice["alice"]) as client:
            result = await client.call_tool(
                "make_image", {"prompt": "a lighthouse", "model": "sim-image", "n": 2}
            )
            made = data_of(result)
            first = made["images"][0]["id"]
            where = await read_json(client, f"image://{first}/content")
            path = await client.call_tool(
                "make_image", {"prompt": "x", "images": ["/etc/hostname"]}
            )
            video = data_of(
                await client.call_tool(
                    "create_video",
                    {"prompt": "it moves", "seconds": "4", "first_frame_image_id": first},
                )
            )
            waited = {"video_id": video["id"], "timeout_seconds": 30}
            done = data_of(await client.call_tool("wait_for_video", waited))
            over = await client.call_tool(
                "make_image", {"prompt": "more", "model": "sim-image", "n": 5}
            )
            listed = data_of(await client.call_tool("list_videos", {}))
            sheet_where = await read_json(client, f"video://{video['id']}/spritesheet")
        async with httpx.AsyncClient() as plain:  # no key: each link is its own credential
            image = await plain.get(made["images"][1]["files"]["image"])
            linked = await plain.get(where["url"])
            thumbnail = await plain.get(done["files"]["thumbnail"])
            sheet = await plain.get(sheet_where["url"])
            swapped = await plain.get(
                sheet_where["url"].replace("variant=spritesheet", "variant=thumbnail")
            )
            unsigned = await plain.get(f"{base}/v1/links/{video['id']}/content?variant=thumbnail")
    previews = images_of(result)
    assert len(previews) == 2 and all(preview.format == "JPEG" for preview in previews)
    assert made["cost_usd"] == pytest.approx(0.04)
    assert all(item["files"]["image"].startswith(f"{base}/v1/images/") for item in made["images"])
    assert image.status_code == 200 and decode(image.content).format == "PNG"
    assert linked.status_code == 200 and linked.content[:4] == b"\x89PNG"
    assert "path" not in where and where["mime_type"] == "image/png"
    assert error_of(path) == (
        "sorakit: 'images[0]' must be an http(s) URL or a data URL; this server reads "
        "no local files."
    )
    assert done["status"] == "completed"
    assert "budget" in error_of(over) and "$0.50" in error_of(over)
    assert [item["id"] for item in listed["videos"]] == [video["id"]]
    assert thumbnail.status_code == 200 and thumbnail.headers["content-type"] == "image/webp"
    assert sheet.status_code == 200 and sheet.headers["content-type"] == "image/jpeg"
    assert sheet_where["url"].startswith(f"{base}/v1/links/{video['id']}/content?variant=")
    assert swapped.status_code == 403  # a spritesheet's signature opens no thumbnail
    assert unsigned.status_code in (400, 422)  # no signature: refused in the error envelope
    assert "error" in unsigned.json()
    (key_id,) = {owner for _, _, owner in image_rows(fast)}
    assert sorted(cost or 0.0 for _, cost, _ in image_rows(fast)) == [0.02, 0.02]
    assert key_id is not None


async def test_another_tenants_image_is_invisible(fast: Settings, serve: Serve) -> None:
    tokens = await make_keys(fast, "alice", "bob")
    with serve(fast) as base:
        async with over_http(base, tokens["alice"]) as alice:
            made = data_of(await alice.call_tool("make_image", {"prompt": "a lighthouse"}))
            image_id = made["images"][0]["id"]
            own = await read_json(alice, f"image://{image_id}")
        async with over_http(base, tokens["bob"]) as bob:
            with pytest.raises(Exception, match="No image found"):
                await bob.read_resource(f"image://{image_id}")
            with pytest.raises(Exception, match="No image found"):
                await bob.read_resource(f"image://{image_id}/content")
            animated = await bob.call_tool(
                "create_video", {"prompt": "mine", "first_frame_image_id": image_id}
            )
            as_video = await bob.call_tool("get_video", {"video_id": image_id})
        async with httpx.AsyncClient() as http:
            v1 = await http.get(
                f"{base}/v1/images/{image_id}",
                headers={"Authorization": f"Bearer {tokens['bob']}"},
            )
    assert own["id"] == image_id and own["status"] == "completed"
    assert "files" in own and own["files"]["image"].startswith(base)
    assert error_of(animated) == f"sorakit: No image found with id '{image_id}'."
    assert error_of(as_video).startswith(f"sorakit: {image_id} is an image, not a video")
    assert v1.status_code == 404
