"""`GET /v1/videos/{id}` through the whole ASGI app, in-process and without sockets: CPU time per
request of `create_app` next to the bare FastAPI endpoint, alternating, in one process.

The HTTP server's own share (uvicorn, h11, the sockets) is the same for both apps and is left
out, so this shows what the app adds, and moves far less with a shared machine's load than the
socket runs of `serve_latency.py` do. Run by `serve_latency.py`; prints one JSON line.

Run: .venv/bin/python bench/_serve_inproc.py --home SEEDED_HOME [--source SRC] [--requests N]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any


async def drive(app: Any, ids: list[str], count: int) -> float:
    """Microseconds of CPU per GET, over `count` GETs after a warm-up over every id."""

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start" and message["status"] != 200:
            raise RuntimeError(f"unexpected status {message['status']}")

    def scope(index: int) -> dict[str, Any]:
        return {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": f"/v1/videos/{ids[index % len(ids)]}",
            "raw_path": b"",
            "query_string": b"",
            "root_path": "",
            "headers": [(b"host", b"127.0.0.1"), (b"authorization", b"Bearer sk-bench")],
            "client": ("127.0.0.1", 1),
            "server": ("127.0.0.1", 80),
        }

    for index in range(2 * len(ids)):
        await app(scope(index), receive, send)
    start = time.process_time()
    for index in range(count):
        await app(scope(index), receive, send)
    return (time.process_time() - start) / count * 1e6


async def main(home: Path, count: int, repeats: int) -> dict[str, float]:
    from serve_latency import bare_app, video_ids
    from sorakit.server import create_app
    from sorakit.settings import get_settings

    ids = video_ids(home)
    app, bare = create_app(get_settings(home=home)), bare_app()
    ours, theirs = [], []
    async with app.router.lifespan_context(app):
        for _ in range(repeats):
            ours.append(await drive(app, ids, count))
            theirs.append(await drive(bare, ids, count))
    return {"sorakit_us": statistics.median(ours), "bare_us": statistics.median(theirs)}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", required=True)
    parser.add_argument("--source", help="a src/ folder to import sorakit from")
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    if args.source:
        sys.path.insert(0, args.source)
    outcome = asyncio.run(main(Path(args.home), args.requests, args.repeats))
    print(json.dumps(outcome))
