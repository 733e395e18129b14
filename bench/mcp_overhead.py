"""MCP at `/mcp` against the plain Videos API: what the protocol costs per call, and what an agent
reads to get one finished, reviewed video compared with a server that returns the MP4 as base64.

Part 1, protocol overhead. One `sorakit serve` app (uvicorn in a thread of this process, on the
simulator, a tenant API key set) holds one finished video. The same caller then asks for that
video N times each way, interleaved call by call so both see the same machine state:
- `GET /v1/videos/{id}` with one keep-alive httpx client;
- `tools/call get_video` over `/mcp` with the official SDK's client, in its default (`auto`: one
  HTTP exchange per call) and its `legacy` mode (a stateful session, SSE answers).
Client and server share this process (and its GIL), as a local agent and server would not; the
ratio is the figure to read, not the absolute times.

Part 2, tokens. The agent's path through sorakit's tools: `create_video`, `wait_for_video`,
`review_video` (4 frames, 384 px wide). Counted: every text block it receives (chars / 4, the
usual rule of thumb for English and JSON) and every image (Anthropic's published estimate,
width x height / 750 tokens). Progress notifications go to the client, not the model, so they
are not counted. The base64-returning server is simulated for the same video: its create answer
(the same job JSON) and a finished answer holding the MP4 as base64 in JSON, counted as text;
such a server shows the agent no frames, so "reviewed" there means it received the bytes.

Run: .venv/bin/python bench/mcp_overhead.py [--calls 300] [--render-seconds 0.5]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from _common import ThreadedUvicorn, machine, percentile, table

IMAGE_TOKENS_PER_PIXEL = 1 / 750
"""Anthropic's published estimate: tokens = width * height / 750."""
CHARS_PER_TOKEN = 4


def text_tokens(text: str) -> int:
    return -(-len(text) // CHARS_PER_TOKEN)


def image_tokens(data: str) -> tuple[int, tuple[int, int]]:
    import io

    from PIL import Image

    with Image.open(io.BytesIO(base64.b64decode(data))) as image:
        size = image.size
    return round(size[0] * size[1] * IMAGE_TOKENS_PER_PIXEL), size


async def make_key(settings: Any) -> str:
    from sorakit.engine import Engine

    async with await Engine.open(settings) as engine:
        return (await engine.ledger.create_key("bench"))[1]


@contextlib.asynccontextmanager
async def mcp_client(base: str, token: str, mode: str) -> AsyncIterator[Any]:
    import httpx2
    from mcp.client.streamable_http import streamable_http_client

    from mcp import Client

    headers = {"Authorization": f"Bearer {token}"}
    async with (
        httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(60.0)) as http,
        Client(streamable_http_client(f"{base}/mcp", http_client=http), mode=mode) as client,  # type: ignore[arg-type]
    ):
        yield client


def received(result: Any) -> tuple[list[str], list[str]]:
    """The text blocks and the base64 images of a tool result."""
    texts, images = [], []
    for block in result.content:
        if block.type == "text":
            texts.append(block.text)
        elif block.type == "image":
            images.append(block.data)
    return texts, images


async def overhead(base: str, token: str, video_id: str, calls: int) -> list[list[Any]]:
    import httpx

    samples: dict[str, list[float]] = {"GET /v1/videos/{id}": [], "/mcp get_video (auto)": []}
    samples["/mcp get_video (legacy session)"] = []
    headers = {"Authorization": f"Bearer {token}"}
    async with (
        httpx.AsyncClient(base_url=base, headers=headers) as http,
        mcp_client(base, token, "auto") as auto,
        mcp_client(base, token, "legacy") as legacy,
    ):

        async def rest() -> None:
            response = await http.get(f"/v1/videos/{video_id}")
            assert response.status_code == 200

        async def tool(client: Any) -> None:
            result = await client.call_tool("get_video", {"video_id": video_id})
            assert not result.is_error

        ways = [
            ("GET /v1/videos/{id}", rest),
            ("/mcp get_video (auto)", lambda: tool(auto)),
            ("/mcp get_video (legacy session)", lambda: tool(legacy)),
        ]
        for _, call in ways:  # warm-up
            for _ in range(10):
                await call()
        for _ in range(calls):
            for name, call in ways:
                started = time.perf_counter()
                await call()
                samples[name].append((time.perf_counter() - started) * 1000)
    base_p50 = statistics.median(samples["GET /v1/videos/{id}"])
    rows = []
    for name, values in samples.items():
        p50 = statistics.median(values)
        rows.append(
            [
                name,
                len(values),
                f"{p50:.2f}",
                f"{percentile(values, 95):.2f}",
                f"{p50 / base_p50:.2f}x",
            ]
        )
    return rows


async def tokens(base: str, token: str) -> tuple[list[list[Any]], dict[str, Any]]:
    rows: list[list[Any]] = []
    total_text = total_image = 0
    async with mcp_client(base, token, "auto") as client:
        created = await client.call_tool(
            "create_video", {"prompt": "a red fox in snow", "seconds": "4", "size": "1280x720"}
        )
        job = json.loads(received(created)[0][0])
        waited = await client.call_tool(
            "wait_for_video", {"video_id": job["id"], "timeout_seconds": 120}
        )
        done = json.loads(received(waited)[0][0])
        reviewed = await client.call_tool("review_video", {"video_id": job["id"], "frames": 4})
        for name, result in (
            ("create_video", created),
            ("wait_for_video", waited),
            ("review_video", reviewed),
        ):
            texts, images = received(result)
            chars = sum(len(t) for t in texts)
            text_t = sum(text_tokens(t) for t in texts)
            image_t, sizes = 0, []
            for data in images:
                count, size = image_tokens(data)
                image_t += count
                sizes.append(f"{size[0]}x{size[1]}")
            total_text += text_t
            total_image += image_t
            shown = f"{len(images)} x {sizes[0]}" if sizes else "-"
            rows.append([f"sorakit: {name}", chars, text_t, shown, image_t, text_t + image_t])
    rows.append(["sorakit: total", "", total_text, "", total_image, total_text + total_image])
    # The base64-returning server, for the same video: its create answer, then the finished job
    # with the MP4 inline (what the MCP servers that return video blobs send).
    mp4 = Path(done["files"]["video"]) if not done["files"]["video"].startswith("http") else None
    video_bytes = await fetch_video(done["files"]["video"]) if mp4 is None else mp4.read_bytes()
    plain_job = {k: v for k, v in done.items() if k != "files"}
    first = json.dumps({**job, "status": "queued"})
    finished = json.dumps({**plain_job, "video_base64": base64.b64encode(video_bytes).decode()})
    b64_total = text_tokens(first) + text_tokens(finished)
    rows.append(
        ["base64 server: create", len(first), text_tokens(first), "-", 0, text_tokens(first)]
    )
    rows.append(
        [
            "base64 server: finished + MP4",
            len(finished),
            text_tokens(finished),
            "-",
            0,
            text_tokens(finished),
        ]
    )
    rows.append(["base64 server: total", "", b64_total, "", 0, b64_total])
    facts = {
        "mp4_bytes": len(video_bytes),
        "sorakit_total": total_text + total_image,
        "base64_total": b64_total,
    }
    return rows, facts


async def fetch_video(url: str) -> bytes:
    import httpx

    async with httpx.AsyncClient() as http:
        return (await http.get(url)).content


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--render-seconds", type=float, default=0.5)
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="sorakit-mcp-bench-"))
    os.environ["SORAKIT_HOME"] = str(home)
    from sorakit.server import create_app
    from sorakit.settings import get_settings

    settings = get_settings(home=home, simulator_render_seconds=args.render_seconds)
    token = await make_key(settings)
    with ThreadedUvicorn(create_app(settings)).running() as base:
        token_rows, facts = await tokens(base, token)
        async with mcp_client(base, token, "auto") as client:
            listed = await client.call_tool("list_videos", {"limit": 1})
            video_id = json.loads(received(listed)[0][0])["videos"][0]["id"]
        overhead_rows = await overhead(base, token, video_id, args.calls)
    print(
        f"# MCP overhead and agent tokens\n\n{machine()}; {args.calls} calls each way, interleaved.\n"
    )
    print(table(["call", "n", "p50 ms", "p95 ms", "p50 vs /v1"], overhead_rows))
    print()
    print(
        table(
            [
                "what the agent receives",
                "text chars",
                "text tokens",
                "images",
                "image tokens",
                "tokens",
            ],
            token_rows,
        )
    )
    ratio = facts["base64_total"] / facts["sorakit_total"]
    print(
        f"\nThe 4 s 1280x720 simulator MP4 is {facts['mp4_bytes']:,} bytes; a base64 answer "
        f"costs {ratio:.0f}x the tokens of sorakit's create + wait + 4-frame review. "
        "Tokens: text chars/4; images width*height/750."
    )


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
