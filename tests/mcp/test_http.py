"""`/mcp` on a real `sorakit serve` (uvicorn on loopback), driven by the SDK's own HTTP client
with tenant API keys: the same keys, limits, budgets and ownership as `/v1`."""

from __future__ import annotations

import base64
import contextlib
import importlib.util
import io
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from PIL import Image

from sorakit.engine import Engine
from sorakit.settings import Settings

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("mcp") is None, reason="the mcp extra is not installed"
)

if importlib.util.find_spec("mcp") is not None:
    import httpx2
    from mcp.client.streamable_http import streamable_http_client

    from mcp import Client
    from tests.mcp.test_tools import data_of, error_of, images_of

Serve = Callable[..., contextlib.AbstractContextManager[str]]


async def make_keys(settings: Settings, *names: str, **limits: Any) -> dict[str, str]:
    """Tenant keys (with `limits`) in the settings' ledger, before the server starts."""
    async with await Engine.open(settings) as engine:
        return {name: (await engine.ledger.create_key(name, **limits))[1] for name in names}


@contextlib.asynccontextmanager
async def over_http(base_url: str, token: str | None, **options: Any) -> AsyncIterator[Client]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with (
        httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(60.0)) as http,
        Client(streamable_http_client(f"{base_url}/mcp", http_client=http), **options) as client,
    ):
        yield client


def data_url(size: tuple[int, int] = (1280, 720)) -> str:
    buffer = io.BytesIO()
    Image.new("RGB", size, (30, 160, 90)).save(buffer, "PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


async def finished(client: Client, **arguments: Any) -> dict[str, Any]:
    job = data_of(await client.call_tool("create_video", {"prompt": "a fox", **arguments}))
    waited = {"video_id": job["id"], "timeout_seconds": 30}
    done = data_of(await client.call_tool("wait_for_video", waited))
    assert done["status"] == "completed", done
    return dict(done)


@pytest.fixture
def fast(settings: Settings) -> Settings:
    return settings.model_copy(update={"simulator_render_seconds": 0.3})


async def test_a_key_makes_waits_reviews_and_downloads_through_links(
    fast: Settings, serve: Serve
) -> None:
    tokens = await make_keys(fast, "alice")
    progress: list[float] = []

    async def on_progress(value: float, total: float | None, message: str | None) -> None:
        progress.append(value)

    slow = fast.model_copy(update={"simulator_render_seconds": 1.5})
    with serve(slow) as base:
        async with over_http(base, tokens["alice"], mode="legacy") as client:
            names = {tool.name for tool in (await client.list_tools()).tools}
            job = data_of(
                await client.call_tool(
                    "create_video",
                    {"prompt": "a fox", "seconds": "4", "input_reference": data_url()},
                )
            )
            result = await client.call_tool(
                "wait_for_video",
                {"video_id": job["id"], "timeout_seconds": 30},
                progress_callback=on_progress,
            )
            progress.append(-1.0)  # the result arrived after the notifications
            done = data_of(result)
            review = await client.call_tool("review_video", {"video_id": job["id"], "frames": 2})
            last = data_of(await client.call_tool("last_frame", {"video_id": job["id"]}))
            where = json.loads(
                (await client.read_resource(f"video://{job['id']}/content")).contents[0].text  # type: ignore[union-attr]
            )
            models = data_of(await client.call_tool("list_models", {}))
            estimate = data_of(await client.call_tool("estimate_cost", {"seconds": "8"}))
            budget = data_of(await client.call_tool("get_budget", {}))
            listed = data_of(await client.call_tool("list_videos", {}))
        async with httpx.AsyncClient() as plain:  # the signed link needs no key
            video = await plain.get(done["files"]["video"])
            thumbnail = await plain.get(done["files"]["thumbnail"])
    assert {"create_video", "make_long_video", "edit_video", "get_pipeline"} <= names
    assert job["eta_seconds"] > 0
    assert done["status"] == "completed"
    assert any(0 < value < 100 for value in progress)  # sent while it rendered
    assert progress[-2:] == [100, -1.0] and progress == sorted(progress[:-1]) + [-1.0]
    assert all(url.startswith(base) for url in done["files"].values())  # links, no server paths
    assert video.status_code == 200 and video.content[4:8] == b"ftyp"
    assert thumbnail.status_code == 200 and thumbnail.headers["content-type"] == "image/webp"
    assert len(images_of(review)) == 2
    assert "path" not in last
    assert where["url"].split("?")[0] == done["files"]["video"].split("?")[0]  # signed anew
    assert "path" not in where
    assert any(model["name"] == "sora-2" for model in models["models"])
    assert estimate["estimated_cost_usd"] == pytest.approx(0.8)
    assert budget["committed_usd"] == pytest.approx(0.4)
    assert [video["id"] for video in listed["videos"]] == [job["id"]]


async def test_every_other_tool_over_http(fast: Settings, serve: Serve) -> None:
    """In the SDK's default mode (one HTTP exchange per call), progress arrives too."""
    tokens = await make_keys(fast, "alice")
    progress: list[float] = []

    async def on_progress(value: float, total: float | None, message: str | None) -> None:
        progress.append(value)

    with serve(fast) as base:
        async with over_http(base, tokens["alice"]) as client:
            source = await finished(client, seconds="4")
            derived = []
            for tool, extra in (
                ("remix_video", {}),
                ("extend_video", {"seconds": "4"}),
                ("edit_video", {}),
            ):
                arguments = {"video_id": source["id"], "prompt": "at dusk", **extra}
                derived.append(data_of(await client.call_tool(tool, arguments)))
            for job in derived:
                waited = {"video_id": job["id"], "timeout_seconds": 30}
                result = await client.call_tool(
                    "wait_for_video", waited, progress_callback=on_progress
                )
                assert data_of(result)["status"] == "completed"
                progress.append(-1.0)  # the result came after every notification of its call
            started = [
                data_of(await client.call_tool(tool, arguments))
                for tool, arguments in (
                    ("make_long_video", {"prompt": "a heron crosses a lake", "seconds": 8}),
                    ("run_storyboard", {"storyboard": "[4s] a heron lands. [4s] it flies."}),
                    ("make_variations", {"prompt": "a kite", "count": 2, "seconds": 4}),
                )
            ]
            finished_pipelines = [
                data_of(
                    await client.call_tool(
                        "wait_for_pipeline", {"pipeline_id": p["id"], "timeout_seconds": 60}
                    )
                )
                for p in started
            ]
            looked = data_of(
                await client.call_tool("get_pipeline", {"pipeline_id": started[0]["id"]})
            )
            pending = data_of(await client.call_tool("create_video", {"prompt": "slow"}))
            cancelled = data_of(await client.call_tool("cancel_video", {"video_id": pending["id"]}))
            deleted = data_of(
                await client.call_tool("delete_video", {"video_id": derived[0]["id"]})
            )
        async with httpx.AsyncClient() as plain:
            stitched = await plain.get(finished_pipelines[0]["output"])
    assert [job["kind"] for job in derived] == ["remix", "extend", "edit"]
    assert progress.count(-1.0) == 3 and progress[-2] == 100  # each wait: progress, then result
    assert all(p["status"] == "completed" for p in finished_pipelines), finished_pipelines
    assert looked["output"].startswith(f"{base}/v1/links/pipelines/")
    assert stitched.status_code == 200 and stitched.content[4:8] == b"ftyp"
    steps = [step for p in finished_pipelines for step in p["steps"]]
    assert all(step["files"]["video"].startswith(base) for step in steps)
    assert cancelled["status"] == "cancelled"
    assert deleted["deleted"] is True


async def test_no_key_or_a_wrong_one_is_refused_with_401(fast: Settings, serve: Serve) -> None:
    await make_keys(fast, "alice")
    hello = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
    with serve(fast) as base:
        async with httpx.AsyncClient() as http:
            bare = await http.post(f"{base}/mcp", json=hello)
            wrong = await http.post(
                f"{base}/mcp", json=hello, headers={"Authorization": "Bearer sk-sorakit-nope"}
            )
            v1 = await http.get(f"{base}/v1/videos")
    assert bare.status_code == 401 and wrong.status_code == 401
    assert bare.headers["www-authenticate"] == "Bearer"
    assert bare.json()["error"]["message"] == v1.json()["error"]["message"]
    assert bare.json()["error"]["message"].startswith("You didn't provide an API key.")
    assert wrong.json()["error"] == {
        "message": "Incorrect API key provided.",
        "type": "authentication_error",
        "param": None,
        "code": "invalid_api_key",
    }


async def test_an_open_gateway_lets_any_caller_in_as_v1_does(fast: Settings, serve: Serve) -> None:
    with serve(fast) as base:
        async with over_http(base, None) as client:
            job = await finished(client, seconds="4")
        async with httpx.AsyncClient() as http:
            seen = await http.get(f"{base}/v1/videos/{job['id']}")
    assert seen.status_code == 200 and seen.json()["status"] == "completed"


async def test_another_tenants_video_is_not_found(fast: Settings, serve: Serve) -> None:
    tokens = await make_keys(fast, "alice", "bob")
    with serve(fast) as base:
        async with over_http(base, tokens["alice"]) as alice:
            job = await finished(alice, seconds="4")
            board = data_of(
                await alice.call_tool("run_storyboard", {"storyboard": "[4s] a heron lands."})
            )
        async with over_http(base, tokens["bob"]) as bob:
            seen = await bob.call_tool("get_video", {"video_id": job["id"]})
            remix = await bob.call_tool("remix_video", {"video_id": job["id"], "prompt": "mine"})
            review = await bob.call_tool("review_video", {"video_id": job["id"]})
            pipeline = await bob.call_tool("get_pipeline", {"pipeline_id": board["id"]})
            listed = data_of(await bob.call_tool("list_videos", {}))
            with pytest.raises(Exception, match="No video found") as resource:
                await bob.read_resource(f"video://{job['id']}")
            with pytest.raises(Exception, match="No video found"):
                await bob.read_resource(f"video://{job['id']}/content")
    not_found = f"sorakit: No video found with id '{job['id']}'."
    assert error_of(seen) == error_of(remix) == error_of(review) == not_found
    assert error_of(pipeline) == f"sorakit: No pipeline found with id '{board['id']}'."
    assert listed["videos"] == []
    assert resource.value is not None


async def test_refusals_match_the_cli_and_v1(
    fast: Settings, serve: Serve, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.mcp.test_tools import cli_line

    tokens = await make_keys(fast, "alice", models=["sora-2"])
    with serve(fast) as base:
        async with over_http(base, tokens["alice"]) as client:
            seven = await client.call_tool("create_video", {"prompt": "a fox", "seconds": "7"})
            path = await client.call_tool(
                "create_video", {"prompt": "a fox", "input_reference": "/etc/hostname"}
            )
            story_path = await client.call_tool("run_storyboard", {"storyboard": "/etc/hostname"})
            other_model = await client.call_tool(
                "create_video", {"prompt": "a fox", "model": "sora-2-pro"}
            )
            listed = data_of(await client.call_tool("list_videos", {}))
            models = data_of(await client.call_tool("list_models", {}))
        async with httpx.AsyncClient() as http:
            v1 = await http.post(
                f"{base}/v1/videos",
                json={"prompt": "a fox", "model": "sora-2-pro"},
                headers={"Authorization": f"Bearer {tokens['alice']}"},
            )
    assert error_of(seven) == await cli_line(capsys, "generate", "a fox", "--seconds", "7", "-q")
    assert error_of(path) == (
        "sorakit: 'input_reference' must be an http(s) URL or a data URL; this server reads "
        "no local files."
    )
    assert error_of(story_path).startswith("sorakit: The storyboard has no shots")  # text only
    assert error_of(other_model) == f"sorakit: {v1.json()['error']['message']}"
    assert [model["name"] for model in models["models"]] == ["sora-2"]  # what the key may use
    assert listed["videos"] == []


async def test_budget_and_rate_refusals_count_as_on_v1(fast: Settings, serve: Serve) -> None:
    thrifty = await make_keys(fast, "thrifty", budget_usd=0.5)
    hasty = await make_keys(fast, "hasty", rpm=1)
    with serve(fast) as base:
        async with over_http(base, thrifty["thrifty"]) as client:
            over = await client.call_tool("create_video", {"prompt": "a fox", "seconds": "8"})
            long = await client.call_tool(
                "make_long_video", {"prompt": "a long heron flight", "seconds": 20}
            )
            listed = data_of(await client.call_tool("list_videos", {}))
        async with over_http(base, hasty["hasty"]) as client:
            first = data_of(
                await client.call_tool("create_video", {"prompt": "a fox", "seconds": "4"})
            )
            second = await client.call_tool("create_video", {"prompt": "a fox", "seconds": "4"})
        async with httpx.AsyncClient() as http:
            v1 = await http.post(
                f"{base}/v1/videos",
                json={"prompt": "a fox", "seconds": "4"},
                headers={"Authorization": f"Bearer {hasty['hasty']}"},
            )
    assert "budget" in error_of(over) and "$0.50" in error_of(over)
    assert "budget" in error_of(long)  # the whole estimate must fit the key's budget
    assert listed["videos"] == []
    assert first["status"] in ("queued", "in_progress")
    assert "may create 1 videos per minute" in error_of(second)
    assert v1.status_code == 429  # the MCP create took the key's one create this minute


async def test_a_call_the_client_gives_up_on_leaves_the_job_resumable(
    fast: Settings, serve: Serve
) -> None:
    from mcp.shared.exceptions import MCPError

    tokens = await make_keys(fast, "alice")
    slow = fast.model_copy(update={"simulator_render_seconds": 2.0})
    with serve(slow) as base:
        async with over_http(base, tokens["alice"], mode="legacy") as client:
            job = data_of(
                await client.call_tool("create_video", {"prompt": "a fox", "seconds": "4"})
            )
            waited = {"video_id": job["id"], "timeout_seconds": 60}
            with pytest.raises(MCPError, match="timed out"):
                await client.call_tool("wait_for_video", waited, read_timeout_seconds=0.3)
            meanwhile = data_of(await client.call_tool("get_video", {"video_id": job["id"]}))
        async with over_http(base, tokens["alice"]) as client:  # a new session
            late = data_of(await client.call_tool("wait_for_video", waited))
    assert meanwhile["status"] in ("queued", "in_progress")
    assert late["status"] == "completed"


async def test_a_session_answers_only_the_key_that_opened_it(fast: Settings, serve: Serve) -> None:
    tokens = await make_keys(fast, "alice", "bob")
    version = "2025-06-18"
    opening = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": version,
            "capabilities": {},
            "clientInfo": {"name": "test", "version": "1"},
        },
    }
    listing = {"jsonrpc": "2.0", "id": 2, "method": "tools/list", "params": {}}
    accept = {"Accept": "application/json, text/event-stream", "MCP-Protocol-Version": version}

    def as_(name: str, session: str | None = None) -> dict[str, str]:
        extra = {"Mcp-Session-Id": session} if session else {}
        return {**accept, "Authorization": f"Bearer {tokens[name]}", **extra}

    with serve(fast) as base:
        async with httpx.AsyncClient() as http:
            opened = await http.post(f"{base}/mcp", json=opening, headers=as_("alice"))
            session = opened.headers["mcp-session-id"]
            stolen = await http.post(f"{base}/mcp", json=listing, headers=as_("bob", session))
            own = await http.post(f"{base}/mcp", json=listing, headers=as_("alice", session))
    assert opened.status_code == 200
    assert stolen.status_code == 404  # as if the session did not exist
    assert own.status_code == 200 and "create_video" in own.text
