"""Run the sorakit pipe inside Open WebUI's own code; started with the Open WebUI venv's python.

Reads a scenario (JSON) on stdin: the pipe's URL on a sorakit server, valves, user valves, and
turns. Fetches the pipe from that URL, loads it with Open WebUI's function loader, and plays the
turns as Open WebUI does (the history sent back each time, a recording event emitter). Prints one
JSON report on stdout: the frontmatter, the manifold's models, and per turn the answer, the
events with their times, the files the answer names as rows of Open WebUI's files table.
Standard library and Open WebUI only: this file runs outside sorakit's environment.
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
import time
import urllib.request
from typing import Any

FILE_ID = re.compile(r"/api/v1/files/([0-9a-f-]{36})/content")


async def main(scenario: dict[str, Any]) -> dict[str, Any]:
    from open_webui.models.files import Files
    from open_webui.utils.plugin import load_function_module_by_id

    with urllib.request.urlopen(scenario["pipe_url"], timeout=10) as answer:
        served_type = answer.headers.get("content-type", "")
        source = answer.read().decode()
    started = time.monotonic()
    pipe, kind, frontmatter, _module = await load_function_module_by_id("sorakit", content=source)
    loaded_seconds = time.monotonic() - started
    pipe.valves = pipe.Valves(**scenario.get("valves", {}))
    user = {"id": "user-1", "email": "ada@example.com", "name": "Ada", "role": "user"}
    user["valves"] = pipe.UserValves(**scenario.get("user_valves", {}))
    report: dict[str, Any] = {
        "served_type": served_type,
        "kind": kind,
        "frontmatter": frontmatter,
        "loaded_seconds": loaded_seconds,
        "models": await pipe.pipes(),
        "turns": [],
    }
    history: list[dict[str, Any]] = []
    for turn in scenario.get("turns", []):
        content = turn["content"]
        if "upload_png" in turn:  # an image the user attached: a file in Open WebUI's store
            url = f"/api/v1/files/{await upload(turn['upload_png'])}/content"
            content = [
                {"type": "text", "text": content},
                {"type": "image_url", "image_url": {"url": url}},
            ]
        history.append({"role": "user", "content": content})
        events: list[dict[str, Any]] = []
        began = time.monotonic()

        async def record(
            event: dict[str, Any], events: list[Any] = events, t0: float = began
        ) -> None:
            events.append({"at": time.monotonic() - t0, "event": event})

        body = {
            "model": turn.get("model", "sorakit.sora-2"),
            "messages": list(history),
            "stream": True,
        }
        answer = await pipe.pipe(
            body=body, __user__=dict(user), __event_emitter__=record, __task__=turn.get("task")
        )
        elapsed = time.monotonic() - began
        history.append({"role": "assistant", "content": answer})
        files = []
        for file_id in dict.fromkeys(FILE_ID.findall(answer)):
            row = await Files.get_file_by_id(file_id)
            files.append(None if row is None else row.model_dump(mode="json"))
        report["turns"].append(
            {"answer": answer, "events": events, "elapsed": elapsed, "files": files}
        )
    return report


async def upload(encoded: str) -> str:
    """Store a base64 PNG as Open WebUI's upload route does; the file's id."""
    import base64
    import io
    import uuid

    from open_webui.models.files import FileForm, Files
    from open_webui.storage.provider import Storage

    file_id = str(uuid.uuid4())
    data = base64.b64decode(encoded)
    contents, path = Storage.upload_file(io.BytesIO(data), f"{file_id}_upload.png", {})
    meta = {"name": "upload.png", "content_type": "image/png", "size": len(contents)}
    form = FileForm(id=file_id, filename="upload.png", path=path, data={}, meta=meta)
    row = Files.insert_new_file("user-1", form)
    if hasattr(row, "__await__"):
        await row
    return file_id


if __name__ == "__main__":
    sys.stdout.write(json.dumps(asyncio.run(main(json.load(sys.stdin)))) + "\n")
