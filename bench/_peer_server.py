"""The bench server of `peer_sora_extend.py`: `sorakit serve`'s app, counted, in a child process.

`CountingASGI` wraps `create_app` (the app `sorakit serve` runs) and counts every `/v1/videos`
request by kind, notes when each video was created and first answered `completed`, and answers
`POST /v1/responses` with a deterministic fake planner (the peer plans through the Responses API;
this keeps it offline). `GET /_bench/counts` reports it all. The simulator's own MP4 encodes are
timed in this process (`_timeline.Recorder`).

Run by the bench: python bench/_peer_server.py --render 3 --home DIR --port-file FILE
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import signal
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

from _common import ThreadedUvicorn, write_port
from _timeline import Recorder

_VIDEO = re.compile(r"^/v1/videos/[^/]+$")
_CONTENT = re.compile(r"^/v1/videos/[^/]+/content$")


def _kind(method: str, path: str, query: str) -> str | None:
    if method == "POST" and path == "/v1/videos":
        return "create"
    if method == "GET" and _VIDEO.match(path):
        return "status"
    if method == "GET" and _CONTENT.match(path):
        variant = re.search(r"variant=(\w+)", query)
        return f"content ({variant.group(1) if variant else 'video'})"
    if path.startswith("/v1/videos"):
        return f"other ({method} {path})"
    if path in ("/v1/responses", "/v1/chat/completions"):
        return "chat (planner)"
    return None


def fake_plan(body: dict[str, Any]) -> str:
    """A deterministic planner answer in the shape sora-extend's system prompt asks for."""
    text = str(body.get("input", ""))
    base = re.search(r"BASE PROMPT:\s*(.+)", text)
    seconds = re.search(r"GENERATION LENGTH \(seconds\):\s*(\d+)", text)
    count = re.search(r"TOTAL GENERATIONS:\s*(\d+)", text)
    prompt = base.group(1).strip() if base else "a scene"
    n = int(count.group(1)) if count else 1
    segments = []
    for i in range(1, n + 1):
        shot = f"Shot {i} of {n}: {prompt}."
        if i > 1:
            shot = (
                "Context (not visible in video, only for AI guidance):\n"
                f"* Part {i} of {n}; the previous scene ended mid-motion.\n\n"
                f"Prompt: Shot {i} begins exactly from the final frame of the previous scene. "
                f"{prompt}."
            )
        segments.append(
            {
                "title": f"Generation {i}",
                "seconds": int(seconds.group(1)) if seconds else 8,
                "prompt": shot,
            }
        )
    return json.dumps({"segments": segments})


class CountingASGI:
    """Counts the API requests by kind; answers the fake planner and `GET /_bench/counts`.

    It also notes when each video was created (its create answered) and when a status call
    first answered `completed`: the lateness is the second less the first less the render.
    """

    def __init__(self, app: Any, render: float) -> None:
        self.app = app
        self.render = render
        self.counts: dict[str, int] = {}
        self.created: dict[str, float] = {}
        self.noticed: dict[str, float] = {}
        self.encodes: list[tuple[float, float, str]] = []

    def report(self) -> dict[str, Any]:
        late = {
            video: self.noticed[video] - created - self.render
            for video, created in self.created.items()
            if video in self.noticed
        }
        return {
            "counts": self.counts,
            "late": late,
            "created": self.created,
            "noticed": self.noticed,
            "encodes": [(a, b) for a, b, what in self.encodes if what == "simulator encode"],
        }

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path, method = scope["path"], scope["method"]
        if path == "/_bench/counts":
            await _json(send, self.report())
            return
        kind = _kind(method, path, scope.get("query_string", b"").decode())
        if kind is not None:
            self.counts[kind] = self.counts.get(kind, 0) + 1
        if kind == "chat (planner)":
            body = b""
            while True:
                message = await receive()
                body += message.get("body", b"")
                if not message.get("more_body"):
                    break
            request = json.loads(body or b"{}")
            text = fake_plan(request)
            await _json(send, _response(request.get("model", "gpt-5"), text))
            return
        if kind not in ("create", "status"):
            await self.app(scope, receive, send)
            return

        async def spy(message: Any) -> None:
            if message["type"] == "http.response.body":
                with contextlib.suppress(ValueError, AttributeError):
                    answer = json.loads(message.get("body", b"{}"))
                    video = str(answer.get("id"))
                    if kind == "create":
                        self.created.setdefault(video, time.time())
                    elif answer.get("status") == "completed":
                        self.noticed.setdefault(video, time.time())
            await send(message)

        await self.app(scope, receive, spy)


def _response(model: str, text: str) -> dict[str, Any]:
    return {
        "id": "resp_bench",
        "object": "response",
        "created_at": int(time.time()),
        "model": model,
        "status": "completed",
        "output": [
            {
                "type": "message",
                "id": "msg_bench",
                "role": "assistant",
                "status": "completed",
                "content": [{"type": "output_text", "text": text, "annotations": []}],
            }
        ],
        "parallel_tool_calls": False,
        "tool_choice": "auto",
        "tools": [],
    }


async def _json(send: Any, payload: Any) -> None:
    body = json.dumps(payload).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def serve(home: str, render: float, port_file: str | None) -> None:
    """The child: `sorakit serve`'s app on the simulator, counted, until SIGTERM."""
    from sorakit.server import create_app
    from sorakit.settings import get_settings

    settings = get_settings(home=Path(home), simulator_render_seconds=render)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    recorder = Recorder(render)  # times the simulator's own MP4 encodes, in this process
    counter = CountingASGI(create_app(settings), render)
    counter.encodes = recorder.spans
    with recorder.install(), ThreadedUvicorn(counter).running() as base:
        write_port(port_file, int(base.rsplit(":", 1)[1]))
        stop.wait()


def counts(base: str) -> dict[str, Any]:
    with urllib.request.urlopen(f"{base}/_bench/counts", timeout=10) as answer:
        return dict(json.load(answer))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--render", type=float, required=True)
    parser.add_argument("--home", required=True)
    parser.add_argument("--port-file")
    args = parser.parse_args()
    serve(args.home, args.render, args.port_file)


if __name__ == "__main__":
    main()
