"""`sorakit mcp` over real stdio, as a desktop client starts it; and without the extra."""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("mcp") is None, reason="the mcp extra is not installed"
)


@pytest.mark.slow
async def test_sorakit_mcp_makes_a_video_over_stdio(isolated_env: Path) -> None:
    from mcp import Client, StdioServerParameters

    env = {**os.environ, "SORAKIT_SIMULATOR_RENDER_SECONDS": "0.3"}
    server = StdioServerParameters(
        command=str(Path(sys.executable).with_name("sorakit")), args=["mcp"], env=env
    )
    seen: list[float] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append(progress)

    async with Client(server, read_timeout_seconds=60) as client:
        tools = {tool.name for tool in (await client.list_tools()).tools}
        created = await client.call_tool("create_video", {"prompt": "a heron", "seconds": "4"})
        job = json.loads(created.content[0].text)  # type: ignore[union-attr]
        waited = await client.call_tool(
            "wait_for_video",
            {"video_id": job["id"], "timeout_seconds": 60},
            progress_callback=on_progress,
        )
    assert {"create_video", "wait_for_video", "review_video"} <= tools
    done = json.loads(waited.content[0].text)  # type: ignore[union-attr]
    assert not waited.is_error and done["status"] == "completed"
    assert Path(done["files"]["video"]).is_relative_to(isolated_env)  # the local ledger's home
    assert seen and seen[-1] == 100


def test_without_the_extra_it_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from sorakit.cli import main

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "mcp" else real(name, *a)
    )
    with pytest.raises(SystemExit) as exit_:
        main(["mcp"])
    assert exit_.value.code == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines == [
        "sorakit: `sorakit mcp` needs the mcp extra: `uv sync --extra mcp` "
        "or `pip install 'sorakit[mcp]'`"
    ]
